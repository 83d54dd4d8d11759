// Package dimse is the DICOM upper layer (PS3.8) and message exchange
// (PS3.7) on TCP: the PDU codec with a bound on every length, the
// association state machine (ARTIM and idle timers), presentation context
// negotiation, and DIMSE messages (command sets in implicit VR little
// endian, fragments reassembled; a C-STORE data set streamed to the
// handler as it arrives, other data sets spooled). It knows
// nothing of the archive: a Handler decides who may associate and what a
// request does.
package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PDU types (PS3.8 9.3).
const (
	pduAssociateRQ = 0x01
	pduAssociateAC = 0x02
	pduAssociateRJ = 0x03
	pduPData       = 0x04
	pduReleaseRQ   = 0x05
	pduReleaseRP   = 0x06
	pduAbort       = 0x07
)

// Abort reasons of the service provider (PS3.8 9.3.8).
const (
	abortNotSpecified    = 0
	abortUnrecognizedPDU = 1
	abortUnexpectedPDU   = 2
	abortInvalidParam    = 6
)

// maxAssociatePDU bounds an A-ASSOCIATE-RQ/AC: a few hundred presentation
// contexts fit in well under 1 MiB.
const maxAssociatePDU = 1 << 20

// ProtocolError is a violation of PS3.8 by the peer: the association is
// aborted with Reason.
type ProtocolError struct {
	Reason byte
	Msg    string
}

func (e *ProtocolError) Error() string { return "DICOM protocol error: " + e.Msg }

func protoErr(reason byte, format string, args ...any) error {
	return &ProtocolError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// errPDUTooLarge is wrapped by the error for a PDU longer than allowed.
var errPDUTooLarge = errors.New("PDU too large")

// pduHeader reads the 6-byte PDU header and checks the declared length
// against the bound for its type before anything is allocated.
func readPDUHeader(r io.Reader, maxPData uint32) (typ byte, length uint32, err error) {
	var h [6]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	typ, length = h[0], binary.BigEndian.Uint32(h[2:])
	var limit uint32
	switch typ {
	case pduAssociateRQ, pduAssociateAC, pduAssociateRJ:
		limit = maxAssociatePDU
	case pduPData:
		limit = maxPData
	case pduReleaseRQ, pduReleaseRP, pduAbort:
		if length != 4 {
			return typ, length, protoErr(abortInvalidParam, "PDU type %#02x declares length %d; it is always 4", typ, length)
		}
		return typ, length, nil
	default:
		return typ, length, protoErr(abortUnrecognizedPDU, "unknown PDU type %#02x", typ)
	}
	if length > limit {
		return typ, length, &ProtocolError{Reason: abortInvalidParam, Msg: fmt.Sprintf("PDU type %#02x declares %d bytes, more than the %d allowed: %v", typ, length, limit, errPDUTooLarge)}
	}
	return typ, length, nil
}

// writePDU writes one PDU with its header.
func writePDU(w io.Writer, typ byte, body []byte) error {
	b := make([]byte, 6, 6+len(body))
	b[0] = typ
	binary.BigEndian.PutUint32(b[2:], uint32(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

// AE titles, UIDs and items of association PDUs (PS3.8 9.3.2-9.3.4).
const (
	// ApplicationContext is the DICOM application context name.
	ApplicationContext = "1.2.840.10008.3.1.1.1"
	itemAppContext     = 0x10
	itemPresContextRQ  = 0x20
	itemPresContextAC  = 0x21
	itemAbstractSyntax = 0x30
	itemTransferSyntax = 0x40
	itemUserInfo       = 0x50
	subMaxLength       = 0x51
	subImplClassUID    = 0x52
	subAsyncOps        = 0x53
	subRoleSelection   = 0x54
	subImplVersion     = 0x55
)

// PresentationContext is one proposed context of an A-ASSOCIATE-RQ.
type PresentationContext struct {
	ID               byte
	AbstractSyntax   string
	TransferSyntaxes []string
}

// RoleSelection is an SCP/SCU role selection sub-item (PS3.7 D.3.3.4).
type RoleSelection struct {
	SOPClass string
	SCU, SCP bool
}

// AssociateRQ is a parsed A-ASSOCIATE-RQ.
type AssociateRQ struct {
	ProtocolVersion     uint16
	CalledAE, CallingAE string
	ApplicationContext  string
	Contexts            []PresentationContext
	// MaxLength is the largest P-DATA-TF the requester receives (0: no limit).
	MaxLength      uint32
	ImplClassUID   string
	ImplVersion    string
	Roles          []RoleSelection
	AsyncRequested bool
}

// cursor reads items from a byte slice with bounds checks.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b) {
		c.err = protoErr(abortInvalidParam, "item of %d bytes runs past the end of its PDU (%d bytes left)", n, len(c.b))
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() byte {
	if v := c.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if v := c.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// item reads an item header (type, reserved, 2-byte length) and its value.
func (c *cursor) item() (byte, []byte) {
	t := c.u8()
	c.u8()
	n := c.u16()
	return t, c.take(int(n))
}

func trimAE(b []byte) string {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == 0) {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == 0) {
		j--
	}
	return string(b[i:j])
}

func trimUID(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// parseAssociateRQ decodes the body of an A-ASSOCIATE-RQ.
func parseAssociateRQ(body []byte) (*AssociateRQ, error) {
	c := &cursor{b: body}
	rq := &AssociateRQ{ProtocolVersion: c.u16()}
	c.take(2)
	rq.CalledAE = trimAE(c.take(16))
	rq.CallingAE = trimAE(c.take(16))
	c.take(32)
	for c.err == nil && len(c.b) > 0 {
		t, v := c.item()
		if c.err != nil {
			break
		}
		switch t {
		case itemAppContext:
			rq.ApplicationContext = trimUID(v)
		case itemPresContextRQ:
			pc, err := parsePresContext(v)
			if err != nil {
				return nil, err
			}
			rq.Contexts = append(rq.Contexts, pc)
		case itemUserInfo:
			if err := parseUserInfo(v, rq); err != nil {
				return nil, err
			}
		default:
			return nil, protoErr(abortInvalidParam, "unknown item type %#02x in A-ASSOCIATE-RQ", t)
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return rq, nil
}

func parsePresContext(v []byte) (PresentationContext, error) {
	c := &cursor{b: v}
	pc := PresentationContext{ID: c.u8()}
	c.take(3)
	for c.err == nil && len(c.b) > 0 {
		t, s := c.item()
		if c.err != nil {
			break
		}
		switch t {
		case itemAbstractSyntax:
			pc.AbstractSyntax = trimUID(s)
		case itemTransferSyntax:
			pc.TransferSyntaxes = append(pc.TransferSyntaxes, trimUID(s))
		default:
			return pc, protoErr(abortInvalidParam, "unknown sub-item %#02x in presentation context %d", t, pc.ID)
		}
	}
	return pc, c.err
}

func parseUserInfo(v []byte, rq *AssociateRQ) error {
	c := &cursor{b: v}
	for c.err == nil && len(c.b) > 0 {
		t, s := c.item()
		if c.err != nil {
			break
		}
		sc := &cursor{b: s}
		switch t {
		case subMaxLength:
			rq.MaxLength = sc.u32()
		case subImplClassUID:
			rq.ImplClassUID = trimUID(s)
		case subImplVersion:
			rq.ImplVersion = trimAE(s)
		case subAsyncOps:
			rq.AsyncRequested = true
		case subRoleSelection:
			n := sc.u16()
			r := RoleSelection{SOPClass: trimUID(sc.take(int(n)))}
			r.SCU, r.SCP = sc.u8() == 1, sc.u8() == 1
			rq.Roles = append(rq.Roles, r)
		}
		// Other sub-items (extended negotiation, user identity) are not
		// answered, which PS3.7 D.3.3 reads as not supported.
		if sc.err != nil {
			return sc.err
		}
	}
	return c.err
}

// associateAC is what the acceptor answers.
type associateAC struct {
	rq        *AssociateRQ
	results   []contextResult
	maxLength uint32
	roles     []RoleSelection
}

// contextResult is the answer for one presentation context.
type contextResult struct {
	id     byte
	result byte // 0 acceptance, 3 abstract syntax not supported, 4 transfer syntaxes not supported
	ts     string
}

// Implementation identity sent in every A-ASSOCIATE-AC.
const (
	ImplClassUID = "1.2.826.0.1.3680043.10.1400.1"
	ImplVersion  = "IMGCLOUD_GW"
)

func putItem(b []byte, typ byte, v []byte) []byte {
	b = append(b, typ, 0, byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}

func padAE(s string) []byte {
	b := []byte(fmt.Sprintf("%-16s", s))
	return b[:16]
}

func (ac *associateAC) encode() []byte {
	b := []byte{0, 1, 0, 0}
	b = append(b, padAE(ac.rq.CalledAE)...)
	b = append(b, padAE(ac.rq.CallingAE)...)
	b = append(b, make([]byte, 32)...)
	b = putItem(b, itemAppContext, []byte(ApplicationContext))
	for _, r := range ac.results {
		v := []byte{r.id, 0, r.result, 0}
		ts := r.ts
		if r.result != 0 {
			ts = "" // PS3.8 9.3.3.2: not significant when not accepted
		}
		v = putItem(v, itemTransferSyntax, []byte(ts))
		b = putItem(b, itemPresContextAC, v)
	}
	var ui []byte
	var ml [4]byte
	binary.BigEndian.PutUint32(ml[:], ac.maxLength)
	ui = putItem(ui, subMaxLength, ml[:])
	ui = putItem(ui, subImplClassUID, []byte(ImplClassUID))
	for _, r := range ac.roles {
		v := []byte{byte(len(r.SOPClass) >> 8), byte(len(r.SOPClass))}
		v = append(v, r.SOPClass...)
		v = append(v, b2u(r.SCU), b2u(r.SCP))
		ui = putItem(ui, subRoleSelection, v)
	}
	// No asynchronous operations window item: the default, one operation
	// at a time (PS3.7 D.3.3.3), which is how "not supported" is said.
	ui = putItem(ui, subImplVersion, []byte(ImplVersion))
	return putItem(b, itemUserInfo, ui)
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// RejectError refuses an association with A-ASSOCIATE-RJ (PS3.8 9.3.4).
type RejectError struct {
	// Result: 1 rejected-permanent, 2 rejected-transient.
	Result byte
	// Source: 1 service user, 2 service provider (ACSE), 3 service
	// provider (presentation).
	Source byte
	Reason byte
	Msg    string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("association rejected (result %d, source %d, reason %d): %s", e.Result, e.Source, e.Reason, e.Msg)
}

// Reject reasons used by the gateway.
var (
	// RejectCallingAE: calling AE title not recognised (source 1, reason 3).
	RejectCallingAE = func(msg string) *RejectError { return &RejectError{Result: 1, Source: 1, Reason: 3, Msg: msg} }
	// RejectCalledAE: called AE title not recognised (source 1, reason 7).
	RejectCalledAE = func(msg string) *RejectError { return &RejectError{Result: 1, Source: 1, Reason: 7, Msg: msg} }
	// RejectBusy: local limit exceeded, try later (transient, source 3, reason 2).
	RejectBusy = func(msg string) *RejectError { return &RejectError{Result: 2, Source: 3, Reason: 2, Msg: msg} }
)

// pdv is one presentation data value item of a P-DATA-TF.
type pdv struct {
	ctx     byte
	command bool
	last    bool
	data    []byte
}

// parsePData splits a P-DATA-TF body into its PDV items.
func parsePData(body []byte, fn func(pdv) error) error {
	c := &cursor{b: body}
	if len(body) == 0 {
		return protoErr(abortInvalidParam, "P-DATA-TF without a presentation data value")
	}
	for len(c.b) > 0 {
		n := c.u32()
		if c.err != nil {
			return c.err
		}
		if n < 2 {
			return protoErr(abortInvalidParam, "presentation data value item of length %d, shorter than its 2-byte header", n)
		}
		if uint64(n) > uint64(len(c.b)) {
			return protoErr(abortInvalidParam, "presentation data value item of %d bytes runs past its P-DATA-TF (%d left)", n, len(c.b))
		}
		v := c.take(int(n))
		if err := fn(pdv{ctx: v[0], command: v[1]&1 != 0, last: v[1]&2 != 0, data: v[2:]}); err != nil {
			return err
		}
	}
	return nil
}
