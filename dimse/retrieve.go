package dimse

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrCanceled is the cause of an operation's context when the peer sent
// C-CANCEL-RQ for it (context.Cause); handlers answer it with FE00.
var ErrCanceled = errors.New("canceled by the peer (C-CANCEL)")

// errAssociationEnded is the cause of an operation's context when its
// association ended under it.
var errAssociationEnded = errors.New("association ended")

// RetrieveRequest is a C-MOVE-RQ or C-GET-RQ with its identifier.
type RetrieveRequest struct {
	Command        Command
	SOPClass       string
	TransferSyntax string
	// Identifier is the data set naming what to retrieve, in
	// TransferSyntax.
	Identifier []byte
	// Destination is C-MOVE's Move Destination AE title ("" for C-GET).
	Destination string
	// MessageID is the request's, for the Move Originator Message ID of
	// the sub-operations.
	MessageID uint16
}

// SubOps counts the sub-operations of a C-MOVE or C-GET (PS3.7 C.4.2.1.6).
type SubOps struct {
	Remaining, Completed, Failed, Warning int
}

// RetrieveResult is the final response of a C-MOVE or C-GET.
type RetrieveResult struct {
	Status  uint16
	Comment string
	SubOps
	// FailedSOPs are the instances whose sub-operation failed: the
	// final response's Failed SOP Instance UID List (0008,0058).
	FailedSOPs []string
}

// Retriever is implemented by a Handler that serves C-MOVE and C-GET
// (without it both are answered 0211, unrecognized operation). pending
// sends a pending response with the counts so far; it fails once the
// association is gone. The context's cause is ErrCanceled after a
// C-CANCEL-RQ: the handler stops between sub-operations and answers FE00.
type Retriever interface {
	Move(ctx context.Context, a *Association, rq *RetrieveRequest, pending func(SubOps) error) RetrieveResult
	Get(ctx context.Context, a *Association, rq *RetrieveRequest, store SubStore, pending func(SubOps) error) RetrieveResult
}

// SubStore sends the C-STORE sub-operations of a C-GET on its own
// association (the peer is the storage SCP there, by role selection).
type SubStore interface {
	// Syntaxes are the transfer syntaxes of the contexts accepted for a
	// SOP class in which the peer took the SCP role (none: the class
	// cannot be sent).
	Syntaxes(sopClass string) []string
	// Store sends one instance's data set (in ts, no file meta) and
	// returns the peer's status and comment; an error means the
	// association can carry no more sub-operations.
	Store(sopClass, sop, ts string, data io.Reader) (status uint16, comment string, err error)
}

// operation is a C-FIND, C-MOVE or C-GET that runs in its own goroutine,
// so that the connection's reader stays free for C-CANCEL-RQ and, for
// C-GET, the C-STORE-RSPs of its sub-operations.
type operation struct {
	msgID  uint16
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the final response is sent
	ended  chan struct{} // closed when the association ends under it
	rsp    chan Command  // C-STORE-RSPs for C-GET sub-operations
}

// current is the running operation, or nil.
func (c *conn) current() *operation {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.op
}

// startOp runs an operation; run returns the final response, sent (and
// the operation cleared, under the write lock, so that the peer's next
// request never finds it running) when it returns.
func (c *conn) startOp(ctx context.Context, m *message, run func(ctx context.Context, op *operation) (Command, []byte)) {
	id, _ := m.rq.U16(TagMessageID)
	octx, cancel := context.WithCancelCause(ctx)
	op := &operation{msgID: id, cancel: cancel, done: make(chan struct{}), ended: make(chan struct{}), rsp: make(chan Command, 1)}
	c.wmu.Lock()
	c.op = op
	// The peer is silent while it waits: no idle timeout meanwhile.
	_ = c.c.SetReadDeadline(time.Time{})
	c.wmu.Unlock()
	go func() {
		defer close(op.done)
		defer cancel(nil)
		cmd, data := run(octx, op)
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.op = nil
		_ = c.c.SetReadDeadline(time.Now().Add(c.s.opt.IdleTimeout))
		if err := c.sendLocked(m.ctx, cmd, data); err != nil {
			c.a.Log.Info("DIMSE final response not sent", "err", err)
			c.c.Close()
		}
	}()
}

// endOp stops a running operation when the association ends and waits
// for it.
func (c *conn) endOp() {
	if op := c.current(); op != nil {
		close(op.ended)
		op.cancel(errAssociationEnded)
		<-op.done
	}
}

// duringOp handles a message that arrives while an operation runs: its
// C-CANCEL-RQ, or a C-STORE-RSP of a C-GET sub-operation. Anything else
// is a second operation at once, which the association did not negotiate.
func (c *conn) duringOp(op *operation, m *message) error {
	switch m.field {
	case CCancelRQ:
		if id, _ := m.rq.U16(TagMessageIDRespondedTo); id == op.msgID {
			op.cancel(ErrCanceled)
		}
		return nil
	case CStoreRSP:
		select {
		case op.rsp <- m.rq:
			return nil
		default:
			return protoErr(abortUnexpectedPDU, "C-STORE-RSP that answers no sub-operation")
		}
	}
	return protoErr(abortUnexpectedPDU, "command %#04x while operation %d runs (asynchronous operations were not negotiated)", m.field, op.msgID)
}

// retrieve starts a C-MOVE or C-GET.
func (c *conn) retrieve(ctx context.Context, m *message, rt Retriever, rq *RetrieveRequest) {
	c.startOp(ctx, m, func(octx context.Context, op *operation) (Command, []byte) {
		pending := func(n SubOps) error {
			p := Response(m.rq, 0xFF00, "")
			setCounts(p, n, true)
			return c.send(m.ctx, p, nil)
		}
		var res RetrieveResult
		if m.field == CMoveRQ {
			res = rt.Move(octx, c.a, rq, pending)
		} else {
			res = rt.Get(octx, c.a, rq, &subStore{c: c, op: op}, pending)
		}
		return retrieveResponse(m.rq, res, rq.TransferSyntax == implicitLittleEndian)
	})
}

const implicitLittleEndian = "1.2.840.10008.1.2"

func setCounts(cmd Command, n SubOps, remaining bool) {
	if remaining {
		cmd.SetU16(TagRemaining, clampU16(n.Remaining))
	}
	cmd.SetU16(TagCompleted, clampU16(n.Completed))
	cmd.SetU16(TagFailed, clampU16(n.Failed))
	cmd.SetU16(TagWarning, clampU16(n.Warning))
}

func clampU16(n int) uint16 { return uint16(min(max(n, 0), 0xFFFF)) }

// retrieveResponse is the final C-MOVE-RSP or C-GET-RSP: counts (the
// remaining ones only after a cancel) and, when sub-operations failed,
// the Failed SOP Instance UID List as its data set.
func retrieveResponse(rq Command, res RetrieveResult, implicit bool) (Command, []byte) {
	r := Response(rq, res.Status, res.Comment)
	setCounts(r, res.SubOps, res.Status == 0xFE00)
	if len(res.FailedSOPs) == 0 {
		return r, nil
	}
	var v []byte
	for i, uid := range res.FailedSOPs {
		if len(v)+len(uid)+2 > 0xFFFE {
			break // an explicit VR UI holds 64 KiB; the counts say the rest
		}
		if i > 0 {
			v = append(v, '\\')
		}
		v = append(v, uid...)
	}
	if len(v)%2 == 1 {
		v = append(v, 0)
	}
	ds := []byte{0x08, 0x00, 0x58, 0x00}
	if implicit {
		ds = binary.LittleEndian.AppendUint32(ds, uint32(len(v)))
	} else {
		ds = append(ds, 'U', 'I')
		ds = binary.LittleEndian.AppendUint16(ds, uint16(len(v)))
	}
	r.SetU16(TagDataSetType, 0)
	return r, append(ds, v...)
}

// subStore sends C-GET sub-operations on the association being served.
type subStore struct {
	c  *conn
	op *operation
}

func (s *subStore) Syntaxes(sopClass string) []string {
	if !s.c.a.scpRole[sopClass] {
		return nil
	}
	var out []string
	for id, as := range s.c.a.as {
		if as == sopClass {
			out = append(out, s.c.a.ts[id])
		}
	}
	return out
}

func (s *subStore) Store(sopClass, sop, ts string, data io.Reader) (uint16, string, error) {
	c := s.c
	var id byte
	for i, as := range c.a.as {
		if as == sopClass && c.a.ts[i] == ts && c.a.scpRole[sopClass] {
			id = i
			break
		}
	}
	if id == 0 {
		return 0, "", fmt.Errorf("no presentation context for %s in %s with the SCP role", sopClass, ts)
	}
	c.wmu.Lock()
	c.msgID++
	msgID := c.msgID
	cmd := Command{}
	cmd.SetString(TagAffectedSOPClassUID, sopClass)
	cmd.SetU16(TagCommandField, CStoreRQ)
	cmd.SetU16(TagMessageID, msgID)
	cmd.SetU16(TagPriority, 0)
	cmd.SetU16(TagDataSetType, 0)
	cmd.SetString(TagAffectedSOPInstance, sop)
	err := c.sendPart(id, 1, cmd.encode())
	if err == nil {
		err = writePDVs(c.write1, id, data, c.pdvMax())
	}
	c.wmu.Unlock()
	if err != nil {
		// Part of a message may be on the wire: the association is lost.
		c.c.Close()
		return 0, "", fmt.Errorf("send C-STORE-RQ of %s: %w", sop, err)
	}
	timer := time.NewTimer(c.s.opt.IdleTimeout)
	defer timer.Stop()
	select {
	case rsp := <-s.op.rsp:
		if got, _ := rsp.U16(TagMessageIDRespondedTo); got != msgID {
			c.c.Close()
			return 0, "", fmt.Errorf("C-STORE-RSP answers message %d, not %d", got, msgID)
		}
		st, _ := rsp.U16(TagStatus)
		return st, rsp.String(TagErrorComment), nil
	case <-s.op.ended:
		return 0, "", errAssociationEnded
	case <-timer.C:
		c.c.Close()
		return 0, "", fmt.Errorf("no C-STORE-RSP for %s within %s", sop, c.s.opt.IdleTimeout)
	}
}

// writePDVs writes a data set from r as data PDVs of at most max bytes,
// one per P-DATA-TF, the last one flagged.
func writePDVs(write func(typ byte, body []byte) error, id byte, r io.Reader, max int) error {
	br := bufio.NewReaderSize(r, max)
	buf := make([]byte, 6+max)
	for {
		n, err := io.ReadFull(br, buf[6:])
		last := false
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			last = true
		case err != nil:
			return fmt.Errorf("read data set: %w", err)
		default:
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				last = true
			} else if perr != nil {
				return fmt.Errorf("read data set: %w", perr)
			}
		}
		binary.BigEndian.PutUint32(buf, uint32(n+2))
		buf[4], buf[5] = id, 0
		if last {
			buf[5] = 2
		}
		if err := write(pduPData, buf[:6+n]); err != nil {
			return fmt.Errorf("send P-DATA-TF: %w", err)
		}
		if last {
			return nil
		}
	}
}
