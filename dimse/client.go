package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ClientOptions describe the association a Client requests.
type ClientOptions struct {
	CallingAE, CalledAE string
	// Contexts proposed; IDs are assigned (1, 3, 5, ...) when zero.
	Contexts []PresentationContext
	// MaxLength is the largest P-DATA-TF the client receives (default 64 KiB).
	MaxLength uint32
	Roles     []RoleSelection
	// Timeout bounds each read and write (default 30 s).
	Timeout time.Duration
	// TLS, when set, runs the association over TLS (PS3.15 B.1).
	TLS *tls.Config
}

// Client is a DICOM association requested by the gateway (an SCU): used
// by operators' commands and tests. One operation at a time.
type Client struct {
	c       net.Conn
	r       *bufio.Reader
	opt     ClientOptions
	ts, as  map[byte]string
	peerMax uint32
	msgID   uint16
}

// Dial connects and negotiates; a refused association is a *RejectError.
func Dial(ctx context.Context, addr string, opt ClientOptions) (*Client, error) {
	if opt.MaxLength == 0 {
		opt.MaxLength = 64 << 10
	}
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	var nc net.Conn
	var err error
	if opt.TLS != nil {
		d := tls.Dialer{Config: opt.TLS}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &Client{c: nc, r: bufio.NewReader(nc), opt: opt, ts: map[byte]string{}, as: map[byte]string{}}
	if err := c.associate(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// EncodeAssociateRQ encodes the body of an A-ASSOCIATE-RQ.
func EncodeAssociateRQ(opt ClientOptions) []byte {
	b := []byte{0, 1, 0, 0}
	b = append(b, padAE(opt.CalledAE)...)
	b = append(b, padAE(opt.CallingAE)...)
	b = append(b, make([]byte, 32)...)
	b = putItem(b, itemAppContext, []byte(ApplicationContext))
	for i, pc := range opt.Contexts {
		id := pc.ID
		if id == 0 {
			id = byte(2*i + 1)
		}
		v := []byte{id, 0, 0, 0}
		v = putItem(v, itemAbstractSyntax, []byte(pc.AbstractSyntax))
		for _, ts := range pc.TransferSyntaxes {
			v = putItem(v, itemTransferSyntax, []byte(ts))
		}
		b = putItem(b, itemPresContextRQ, v)
	}
	var ui []byte
	ui = putItem(ui, subMaxLength, binary.BigEndian.AppendUint32(nil, opt.MaxLength))
	ui = putItem(ui, subImplClassUID, []byte(ImplClassUID))
	for _, r := range opt.Roles {
		v := binary.BigEndian.AppendUint16(nil, uint16(len(r.SOPClass)))
		v = append(v, r.SOPClass...)
		v = append(v, b2u(r.SCU), b2u(r.SCP))
		ui = putItem(ui, subRoleSelection, v)
	}
	ui = putItem(ui, subImplVersion, []byte(ImplVersion))
	return putItem(b, itemUserInfo, ui)
}

func (c *Client) associate() error {
	if err := c.WritePDU(pduAssociateRQ, EncodeAssociateRQ(c.opt)); err != nil {
		return fmt.Errorf("send A-ASSOCIATE-RQ: %w", err)
	}
	typ, body, err := c.ReadPDU()
	if err != nil {
		return fmt.Errorf("read A-ASSOCIATE answer: %w", err)
	}
	switch typ {
	case pduAssociateRJ:
		if len(body) < 4 {
			return protoErr(abortInvalidParam, "short A-ASSOCIATE-RJ")
		}
		return &RejectError{Result: body[1], Source: body[2], Reason: body[3], Msg: "rejected by the peer"}
	case pduAbort:
		return errors.New("association aborted by the peer")
	case pduAssociateAC:
	default:
		return protoErr(abortUnexpectedPDU, "PDU type %#02x in answer to A-ASSOCIATE-RQ", typ)
	}
	proposed := map[byte]string{}
	for i, pc := range c.opt.Contexts {
		id := pc.ID
		if id == 0 {
			id = byte(2*i + 1)
		}
		proposed[id] = pc.AbstractSyntax
	}
	cur := &cursor{b: body}
	cur.take(68)
	for cur.err == nil && len(cur.b) > 0 {
		t, v := cur.item()
		switch t {
		case itemPresContextAC:
			if len(v) >= 4 && v[2] == 0 {
				pc := &cursor{b: v[4:]}
				_, ts := pc.item()
				c.ts[v[0]], c.as[v[0]] = trimUID(ts), proposed[v[0]]
			}
		case itemUserInfo:
			var rq AssociateRQ
			if err := parseUserInfo(v, &rq); err != nil {
				return err
			}
			c.peerMax = rq.MaxLength
		}
	}
	return cur.err
}

// Context returns the accepted presentation context of an abstract
// syntax and its transfer syntax.
func (c *Client) Context(abstract string) (id byte, ts string, ok bool) {
	for id, as := range c.as {
		if as == abstract {
			return id, c.ts[id], true
		}
	}
	return 0, "", false
}

// WritePDU writes one raw PDU (tests use it to send malformed input).
func (c *Client) WritePDU(typ byte, body []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.opt.Timeout))
	return writePDU(c.c, typ, body)
}

// WriteRaw writes bytes as they are.
func (c *Client) WriteRaw(b []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.opt.Timeout))
	_, err := c.c.Write(b)
	return err
}

// ReadPDU reads one PDU (at most 16 MiB).
func (c *Client) ReadPDU() (byte, []byte, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(c.opt.Timeout))
	typ, n, err := readPDUHeader(c.r, 16<<20)
	if err != nil {
		return typ, nil, err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(c.r, b)
	return typ, b, err
}

// ErrAborted is returned when the peer aborts the association.
var ErrAborted = errors.New("association aborted by the peer")

// ReadCommand reads the next message's command set (a data set that
// follows is skipped).
func (c *Client) ReadCommand() (Command, error) {
	cmd, _, err := c.readMessage(false)
	return cmd, err
}

// ReadMessage reads the next message: its command set and its data set
// (nil when none follows; at most 16 MiB is kept).
func (c *Client) ReadMessage() (Command, []byte, error) {
	return c.readMessage(true)
}

func (c *Client) readMessage(keepData bool) (Command, []byte, error) {
	var cmd, data []byte
	var parsed Command
	for {
		typ, body, err := c.ReadPDU()
		if err != nil {
			return nil, nil, err
		}
		switch typ {
		case pduAbort:
			return nil, nil, ErrAborted
		case pduPData:
		default:
			return nil, nil, fmt.Errorf("unexpected PDU type %#02x", typ)
		}
		done := false
		err = parsePData(body, func(v pdv) error {
			if v.command {
				cmd = append(cmd, v.data...)
				if v.last {
					pc, err := parseCommand(cmd)
					if err != nil {
						return err
					}
					parsed = pc
					done = !pc.HasDataSet()
				}
				return nil
			}
			if keepData && len(data)+len(v.data) <= 16<<20 {
				data = append(data, v.data...)
			}
			done = v.last
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if done && parsed != nil {
			return parsed, data, nil
		}
	}
}

// PDV is one presentation data value as a client sends it.
type PDV struct {
	Context       byte
	Command, Last bool
	Data          []byte
}

// EncodePData encodes PDVs as one P-DATA-TF body.
func EncodePData(v ...PDV) []byte {
	var b []byte
	for _, p := range v {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Data)+2))
		b = append(b, p.Context, b2u(p.Command)|b2u(p.Last)<<1)
		b = append(b, p.Data...)
	}
	return b
}

// SendMessage sends a command and an optional data set on context id,
// one PDV per P-DATA-TF within the peer's maximum length.
func (c *Client) SendMessage(id byte, cmd Command, data []byte) error {
	if data == nil {
		cmd.SetU16(TagDataSetType, noDataSet)
	} else {
		cmd.SetU16(TagDataSetType, 0)
	}
	if err := c.sendBytes(id, cmd.encode(), true); err != nil {
		return err
	}
	if data != nil {
		return c.sendBytes(id, data, false)
	}
	return nil
}

func (c *Client) pdvMax() int {
	max := 16 << 10
	if c.peerMax != 0 && int(c.peerMax)-6 < max {
		max = int(c.peerMax) - 6
	}
	return max
}

func (c *Client) sendBytes(id byte, b []byte, command bool) error {
	max := c.pdvMax()
	for {
		n := min(len(b), max)
		if err := c.WritePDU(pduPData, EncodePData(PDV{Context: id, Command: command, Last: n == len(b), Data: b[:n]})); err != nil {
			return err
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
}

// EncodeCommand encodes a command set (tests build malformed ones).
func EncodeCommand(cmd Command) []byte { return cmd.encode() }

func (c *Client) nextID() uint16 { c.msgID++; return c.msgID }

// Echo sends C-ECHO and returns the status.
func (c *Client) Echo() (uint16, error) {
	id, _, ok := c.Context("1.2.840.10008.1.1")
	if !ok {
		return 0, errors.New("verification was not accepted")
	}
	cmd := Command{}
	cmd.SetString(TagAffectedSOPClassUID, "1.2.840.10008.1.1")
	cmd.SetU16(TagCommandField, CEchoRQ)
	cmd.SetU16(TagMessageID, c.nextID())
	if err := c.SendMessage(id, cmd, nil); err != nil {
		return 0, err
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		return 0, err
	}
	st, _ := rsp.U16(TagStatus)
	return st, nil
}

// Store sends C-STORE of a data set (encoded in the context's transfer
// syntax, without file meta information) and returns the status and
// error comment.
func (c *Client) Store(sopClass, sopInstance string, data []byte) (uint16, string, error) {
	id, _, ok := c.Context(sopClass)
	if !ok {
		return 0, "", fmt.Errorf("SOP class %s was not accepted", sopClass)
	}
	cmd := StoreRQ(sopClass, sopInstance, c.nextID())
	if err := c.SendMessage(id, cmd, data); err != nil {
		return 0, "", err
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		return 0, "", err
	}
	st, _ := rsp.U16(TagStatus)
	return st, rsp.String(TagErrorComment), nil
}

// Accepted returns the abstract and transfer syntax of an accepted
// presentation context.
func (c *Client) Accepted(id byte) (abstract, ts string, ok bool) {
	ts, ok = c.ts[id]
	return c.as[id], ts, ok
}

// StoreRQ is a C-STORE-RQ command set at medium priority announcing a
// data set (tests send it by hand to cut the data set short).
func StoreRQ(sopClass, sopInstance string, msgID uint16) Command {
	cmd := Command{}
	cmd.SetString(TagAffectedSOPClassUID, sopClass)
	cmd.SetU16(TagCommandField, CStoreRQ)
	cmd.SetU16(TagMessageID, msgID)
	cmd.SetU16(TagPriority, 0)
	cmd.SetU16(TagDataSetType, 0)
	cmd.SetString(TagAffectedSOPInstance, sopInstance)
	return cmd
}

// StoreFrom sends C-STORE on presentation context id with the data set
// read from data (in the context's transfer syntax, no file meta
// information), streamed in PDVs; a C-MOVE sub-operation names its
// originator (moveAE "" otherwise). It returns the status and comment;
// an error leaves the association unusable.
func (c *Client) StoreFrom(id byte, sopClass, sopInstance, moveAE string, moveID uint16, data io.Reader) (uint16, string, error) {
	cmd := StoreRQ(sopClass, sopInstance, c.nextID())
	if moveAE != "" {
		cmd.SetString(TagMoveOriginatorAE, moveAE)
		cmd.SetU16(TagMoveOriginatorID, moveID)
	}
	if err := c.sendBytes(id, cmd.encode(), true); err != nil {
		return 0, "", err
	}
	if err := writePDVs(c.WritePDU, id, data, c.pdvMax()); err != nil {
		return 0, "", err
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		return 0, "", fmt.Errorf("read C-STORE-RSP: %w", err)
	}
	st, _ := rsp.U16(TagStatus)
	return st, rsp.String(TagErrorComment), nil
}

// Release ends the association in order (A-RELEASE).
func (c *Client) Release() error {
	defer c.c.Close()
	if err := c.WritePDU(pduReleaseRQ, make([]byte, 4)); err != nil {
		return err
	}
	typ, _, err := c.ReadPDU()
	// Messages the peer sent before it read the request (such as a
	// storage commitment report) may still arrive (Sta7): left unanswered.
	for n := 0; err == nil && typ == pduPData && n < 1024; n++ {
		typ, _, err = c.ReadPDU()
	}
	if err != nil {
		return fmt.Errorf("read A-RELEASE-RP: %w", err)
	}
	if typ != pduReleaseRP {
		return fmt.Errorf("PDU type %#02x in answer to A-RELEASE-RQ", typ)
	}
	return nil
}

// Abort sends A-ABORT and closes the connection.
func (c *Client) Abort() error {
	defer c.c.Close()
	return c.WritePDU(pduAbort, []byte{0, 0, 0, 0})
}

// Close closes the connection without a word.
func (c *Client) Close() error { return c.c.Close() }

// PDU type numbers, for tests that write raw PDUs.
const (
	PDUAssociateRQ = pduAssociateRQ
	PDUPData       = pduPData
	PDUAbort       = pduAbort
)
