package dimse

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// errPeerAborted ends an association the peer aborted.
var errPeerAborted = errors.New("aborted by the peer (A-ABORT)")

// pdvHead is the header of a presentation data value item; its n value
// bytes follow on the connection.
type pdvHead struct {
	ctx           byte
	command, last bool
	n             int
}

// nextPDV reads the header of the next PDV of the P-DATA-TF being read
// (c.pduLeft > 0), checked against what is left of that PDU.
func (c *conn) nextPDV() (pdvHead, error) {
	if c.pduLeft < 6 {
		return pdvHead{}, protoErr(abortInvalidParam, "presentation data value item runs past its P-DATA-TF (%d bytes left)", c.pduLeft)
	}
	var h [6]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return pdvHead{}, fmt.Errorf("read P-DATA-TF: %w", err)
	}
	c.pduLeft -= 6
	n := int64(binary.BigEndian.Uint32(h[:4]))
	if n < 2 {
		return pdvHead{}, protoErr(abortInvalidParam, "presentation data value item of length %d, shorter than its 2-byte header", n)
	}
	if n-2 > c.pduLeft {
		return pdvHead{}, protoErr(abortInvalidParam, "presentation data value item of %d bytes runs past its P-DATA-TF (%d left)", n, c.pduLeft+2)
	}
	return pdvHead{ctx: h[4], command: h[5]&1 != 0, last: h[5]&2 != 0, n: int(n - 2)}, nil
}

// readValue reads len(b) bytes of the current PDV's value.
func (c *conn) readValue(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.pduLeft -= int64(n)
	if err != nil {
		return fmt.Errorf("read P-DATA-TF: %w", err)
	}
	return nil
}

// spoolValue copies n bytes of the current PDV's value into sp.
func (c *conn) spoolValue(sp *spool, n int) error {
	if c.chunk == nil {
		c.chunk = make([]byte, 32<<10)
	}
	for n > 0 {
		b := c.chunk[:min(n, len(c.chunk))]
		if err := c.readValue(b); err != nil {
			return err
		}
		if err := sp.write(b); err != nil {
			return fmt.Errorf("spool data set: %w", err)
		}
		n -= len(b)
	}
	return nil
}

// dataStream is the data set of a C-STORE-RQ read as it arrives: the
// values of its PDVs, read from the connection straight into the
// caller's buffer (no reassembly copy, no spool: the archive spools the
// instance once, as it does for STOW-RS). It ends with io.EOF only after
// the fragment marked last; an abort, a protocol error or a transport
// error in between is returned by every later Read, so a data set cut
// short is never taken as whole.
type dataStream struct {
	c    *conn
	ctx  byte
	left int // bytes of the current fragment not yet read
	last bool
	n    int64
	err  error
}

func (d *dataStream) Read(p []byte) (int, error) {
	for d.err == nil && d.left == 0 {
		if d.last {
			return 0, io.EOF
		}
		if d.err = d.next(); errors.Is(d.err, io.EOF) {
			// The peer closed the connection between two PDUs: only the
			// fragment marked last ends a data set.
			d.err = fmt.Errorf("connection closed before the data set's last fragment: %w", io.ErrUnexpectedEOF)
		}
	}
	if d.err != nil {
		return 0, d.err
	}
	if len(p) > d.left {
		p = p[:d.left]
	}
	n, err := d.c.r.Read(p)
	d.left -= n
	d.c.pduLeft -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("read P-DATA-TF: %w", err)
		if n == 0 {
			return 0, d.err
		}
	}
	return n, nil
}

// next reads the header of the data set's next fragment, and the header
// of a new P-DATA-TF when the last one is used up.
func (d *dataStream) next() error {
	c := d.c
	if c.pduLeft == 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(c.s.opt.IdleTimeout))
		typ, n, err := readPDUHeader(c.r, c.s.opt.MaxPDULength)
		if err != nil {
			return err
		}
		switch typ {
		case pduPData:
			if n == 0 {
				return protoErr(abortInvalidParam, "P-DATA-TF without a presentation data value")
			}
			c.pduLeft = int64(n)
		case pduAbort:
			_, _ = io.CopyN(io.Discard, c.r, int64(n))
			return errPeerAborted
		default:
			return protoErr(abortUnexpectedPDU, "PDU type %#02x in the middle of a data set", typ)
		}
	}
	h, err := c.nextPDV()
	if err != nil {
		return err
	}
	switch _, ok := c.a.ts[h.ctx]; {
	case !ok:
		return protoErr(abortInvalidParam, "presentation context %d was not accepted on this association", h.ctx)
	case h.ctx != d.ctx:
		return protoErr(abortInvalidParam, "fragment on presentation context %d inside a message on context %d", h.ctx, d.ctx)
	case h.command:
		return protoErr(abortUnexpectedPDU, "command fragment where the data set was expected")
	}
	if d.n += int64(h.n); d.n > c.s.opt.MaxDataSetBytes {
		return protoErr(abortInvalidParam, "data set larger than %d bytes", c.s.opt.MaxDataSetBytes)
	}
	d.left, d.last = h.n, h.last
	return nil
}

// store serves a C-STORE-RQ whose command set is complete: the handler
// reads the data set as it arrives. What it leaves unread is read and
// dropped before the response, which is sent only for a data set that
// arrived whole.
func (c *conn) store(ctx context.Context, m *message) error {
	if op := c.current(); op != nil {
		return c.duringOp(op, m)
	}
	ds := &dataStream{c: c, ctx: m.ctx}
	rq := &StoreRequest{Command: m.rq, SOPClass: m.rq.String(TagAffectedSOPClassUID),
		SOPInstance: m.rq.String(TagAffectedSOPInstance), TransferSyntax: c.a.ts[m.ctx], Data: ds}
	var status uint16
	var comment string
	switch {
	case rq.SOPClass == "" || rq.SOPInstance == "":
		status, comment = 0xC000, "C-STORE-RQ lacks AffectedSOPClassUID or AffectedSOPInstanceUID"
	case rq.SOPClass != c.a.as[m.ctx]:
		status, comment = 0xA900, "SOP class differs from the presentation context's abstract syntax"
	default:
		status, comment = c.s.opt.Handler.Store(ctx, c.a, rq)
	}
	if _, err := io.Copy(io.Discard, ds); err != nil {
		return err
	}
	return c.send(m.ctx, Response(m.rq, status, comment), nil)
}
