package scp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
)

// Storage Commitment Push Model (PS3.4 annex J).
const (
	StorageCommitment         = "1.2.840.10008.1.20.1"
	StorageCommitmentInstance = "1.2.840.10008.1.20.1.1" // its well-known instance
)

// Failure reasons of the Failed SOP Sequence (PS3.4 J.3.2.1.2).
const (
	failProcessing     = 0x0110
	failNoSuchObject   = 0x0112
	failClassConflict  = 0x0119
	maxCommitInstances = 100000
)

// Data set elements of a commitment request and result.
const (
	tagTransactionUID = 0x00081195
	tagRefSOPSeq      = 0x00081199
	tagFailedSOPSeq   = 0x00081198
	tagRefClass       = 0x00081150
	tagRefInstance    = 0x00081155
	tagFailureReason  = 0x00081197
	tagRetrieveAE     = 0x00080054
)

// sopRef is one item of the Referenced or Failed SOP Sequence.
type sopRef struct {
	class, instance string
	reason          uint16 // failures only
}

// commitResult is a transaction's answer, kept structured so that it can
// be encoded in whatever transfer syntax its association negotiates.
type commitResult struct {
	txn      string
	aet      string // the gateway's, as Retrieve AE Title
	ok, fail []sopRef
}

// Action serves N-ACTION-RQ of Storage Commitment (action type 1): it
// answers success once the request is understood and reports the result
// (N-EVENT-REPORT) on the same association, or over a new one to the AE
// when this one ends first. An instance is committed only if its object
// is in object storage at its recorded size, and only if the AE's
// institution may see it; anything else is "no such object", the same
// answer for missing and hidden.
func (s *Service) Action(ctx context.Context, a *dimse.Association, rq *dimse.ActionRequest) (uint16, string, *dimse.EventReport) {
	status, comment, res := s.action(ctx, rq)
	detail := comment
	if res != nil {
		detail = fmt.Sprintf("transaction %s: %d committed, %d failed", res.txn, len(res.ok), len(res.fail))
	}
	s.op(ctx, a, "N-ACTION", status, detail)
	if res == nil {
		return status, clipComment(comment), nil
	}
	return status, "", res.report()
}

func (s *Service) action(ctx context.Context, rq *dimse.ActionRequest) (uint16, string, *commitResult) {
	ss := sessionOf(ctx)
	p, err := ss.ae.CommitPrincipal()
	switch {
	case err != nil:
		return 0x0124, err.Error(), nil
	case rq.SOPInstance != StorageCommitmentInstance:
		// 0x0117: invalid object instance.
		return 0x0117, "Requested SOP Instance is not the well-known " + StorageCommitmentInstance, nil
	case rq.ActionType != 1:
		// 0x0123: no such action.
		return 0x0123, fmt.Sprintf("action type %d is not Request Storage Commitment (1)", rq.ActionType), nil
	}
	txn, refs, err := decodeCommitRequest(rq.Data, rq.TransferSyntax == dcm.ImplicitVRLittleEndian)
	if err != nil {
		// 0x0120: missing attribute; 0x0106: invalid attribute value.
		var missing *commitMissingError
		if errors.As(err, &missing) {
			return 0x0120, err.Error(), nil
		}
		return 0x0106, err.Error(), nil
	}
	ctx = auth.WithPrincipal(ctx, p)
	res := &commitResult{txn: txn, aet: s.opt.AETitle}
	for _, r := range refs {
		in, err := s.opt.Archive.Durable(ctx, r.instance)
		switch {
		case errors.Is(err, archive.ErrNotFound):
			r.reason = failNoSuchObject
		case err != nil:
			r.reason = failProcessing
			ss := sessionOf(ctx)
			s.log.Warn("storage commitment: instance not committed", "sop", r.instance, "ae", ss.ae.AET, "err", err)
		case in.Attrs.String(tagCommitSOPClass) != "" && in.Attrs.String(tagCommitSOPClass) != r.class:
			r.reason = failClassConflict
		}
		if r.reason != 0 {
			res.fail = append(res.fail, r)
		} else {
			res.ok = append(res.ok, r)
		}
	}
	return 0, "", res
}

const tagCommitSOPClass = "00080016"

// report is the N-EVENT-REPORT of a result: event type 1 when every
// instance is committed, 2 when some failed.
func (r *commitResult) report() *dimse.EventReport {
	ev := uint16(1)
	if len(r.fail) > 0 {
		ev = 2
	}
	return &dimse.EventReport{SOPClass: StorageCommitment, SOPInstance: StorageCommitmentInstance, EventType: ev,
		Encode: func(ts string) []byte { return r.encode(ts == dcm.ImplicitVRLittleEndian) }}
}

// Undelivered sends a report the association could not carry over a new
// association to the requesting AE, as the SCU of N-EVENT-REPORT with the
// SCP role of Storage Commitment (role selection, PS3.4 J.3.3), in the
// background with a few retries.
func (s *Service) Undelivered(ctx context.Context, a *dimse.Association, r *dimse.EventReport) {
	ss := sessionOf(ctx)
	ae, id := ss.ae, a.ID
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.deliver(s.base, ae, id, r)
	}()
}

func (s *Service) deliver(ctx context.Context, ae access.AE, assoc string, r *dimse.EventReport) {
	ev := audit.Event{Actor: "ae:" + ae.AET, Role: string(auth.RolePACS), Institution: ae.Institution,
		Action: "DIMSE N-EVENT-REPORT", Source: ae.Host, RequestID: assoc}
	delays := s.opt.ReportRetryDelays
	if delays == nil {
		delays = []time.Duration{2 * time.Second, 10 * time.Second, time.Minute}
	}
	var err error
	for attempt := 0; ; attempt++ {
		var st uint16
		st, err = s.sendReport(ctx, ae, r)
		if err == nil {
			ev.Outcome, ev.Detail = outcome(st), fmt.Sprintf("status %04X, event type %d, on a new association to %s:%d", st, r.EventType, ae.Host, ae.Port)
			break
		}
		if attempt == len(delays) || ctx.Err() != nil {
			ev.Outcome, ev.Detail = 502, fmt.Sprintf("event type %d undelivered after %d attempts: %v", r.EventType, attempt+1, err)
			break
		}
		s.log.Info("storage commitment report not delivered, will retry", "ae", ae.AET, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(delays[attempt]):
		}
	}
	ev.Time = time.Now().UTC()
	s.opt.Audit.Record(ev)
	s.m.ops.WithLabelValues("N-EVENT-REPORT", fmt.Sprintf("%04X", ev.Outcome)).Inc()
	if err != nil {
		s.log.Warn("storage commitment report undelivered", "ae", ae.AET, "assoc", assoc, "err", err)
	}
}

// sendReport opens an association to the AE and sends the report.
func (s *Service) sendReport(ctx context.Context, ae access.AE, r *dimse.EventReport) (uint16, error) {
	if ae.Port == 0 {
		return 0, fmt.Errorf("AE %s has no port in the registry to send the result to", ae.AET)
	}
	opt := dimse.ClientOptions{CallingAE: s.opt.AETitle, CalledAE: ae.AET, Timeout: 30 * time.Second,
		Contexts: []dimse.PresentationContext{{AbstractSyntax: StorageCommitment,
			TransferSyntaxes: []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian}}},
		Roles: []dimse.RoleSelection{{SOPClass: StorageCommitment, SCU: false, SCP: true}}}
	if ae.TLS {
		if s.opt.ClientTLS == nil {
			return 0, fmt.Errorf("AE %s requires TLS and the gateway has no TLS configuration", ae.AET)
		}
		opt.TLS = s.opt.ClientTLS.Clone()
		opt.TLS.ServerName = ae.Host
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := dimse.Dial(dctx, net.JoinHostPort(ae.Host, strconv.Itoa(ae.Port)), opt)
	if err != nil {
		return 0, fmt.Errorf("associate with %s: %w", ae.AET, err)
	}
	_, ts, ok := c.Context(StorageCommitment)
	if !ok {
		c.Abort()
		return 0, fmt.Errorf("AE %s did not accept Storage Commitment", ae.AET)
	}
	st, err := c.EventReport(r.SOPClass, r.SOPInstance, r.EventType, r.Encode(ts))
	if err != nil {
		c.Abort()
		return 0, fmt.Errorf("send N-EVENT-REPORT to %s: %w", ae.AET, err)
	}
	if err := c.Release(); err != nil {
		s.log.Info("storage commitment: release after the report", "ae", ae.AET, "err", err)
	}
	return st, nil
}

// commitMissingError names a required attribute the request lacks.
type commitMissingError struct{ what string }

func (e *commitMissingError) Error() string { return e.what + " is missing" }

// sqElement is one data sqElement read from a little-endian data set.
type sqElement struct {
	tag   uint32
	vr    string
	value []byte // for SQ: the items' bytes
}

// splitElements splits a little-endian data set (implicit or explicit VR)
// into its top-level elements. A sequence of undefined length is found
// by walking its items, nested at most maxSQDepth deep.
func splitElements(b []byte, implicit bool) ([]sqElement, error) {
	var out []sqElement
	for len(b) > 0 {
		e, n, err := splitElement(b, implicit, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		b = b[n:]
	}
	return out, nil
}

const maxSQDepth = 4

func splitElement(b []byte, implicit bool, depth int) (sqElement, int, error) {
	if len(b) < 8 {
		return sqElement{}, 0, errors.New("data set ends inside an sqElement header")
	}
	tag := uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
	var vr string
	var n uint32
	hdr := 8
	if implicit || tag>>16 == 0xFFFE {
		vr, n = dcm.VRForTag(fmt.Sprintf("%08X", tag)), binary.LittleEndian.Uint32(b[4:])
	} else {
		vr = string(b[4:6])
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
			if len(b) < 12 {
				return sqElement{}, 0, errors.New("data set ends inside an sqElement header")
			}
			n, hdr = binary.LittleEndian.Uint32(b[8:]), 12
		default:
			n = uint32(binary.LittleEndian.Uint16(b[6:]))
		}
	}
	if n != math.MaxUint32 {
		if uint64(n) > uint64(len(b)-hdr) {
			return sqElement{}, 0, fmt.Errorf("sqElement (%04X,%04X) declares %d bytes, %d remain", tag>>16, tag&0xFFFF, n, len(b)-hdr)
		}
		return sqElement{tag: tag, vr: vr, value: b[hdr : hdr+int(n)]}, hdr + int(n), nil
	}
	// Undefined length: a sequence (or item) ends at its delimiter.
	if depth >= maxSQDepth {
		return sqElement{}, 0, fmt.Errorf("sequences nested deeper than %d", maxSQDepth)
	}
	end := uint32(0xFFFEE0DD)
	if tag == 0xFFFEE000 {
		end = 0xFFFEE00D
	}
	rest := b[hdr:]
	off := 0
	for {
		if len(rest)-off < 8 {
			return sqElement{}, 0, fmt.Errorf("sqElement (%04X,%04X) of undefined length has no delimiter", tag>>16, tag&0xFFFF)
		}
		t := uint32(binary.LittleEndian.Uint16(rest[off:]))<<16 | uint32(binary.LittleEndian.Uint16(rest[off+2:]))
		if t == end {
			return sqElement{tag: tag, vr: "SQ", value: rest[:off]}, hdr + off + 8, nil
		}
		// Item headers (FFFE,xxxx) have no VR in any syntax; the
		// elements inside an item follow the transfer syntax.
		_, m, err := splitElement(rest[off:], implicit, depth+1)
		if err != nil {
			return sqElement{}, 0, err
		}
		off += m
	}
}

// items splits a sequence's value into the sqElement lists of its items.
func sqItems(seq []byte, implicit bool) ([][]sqElement, error) {
	var out [][]sqElement
	for len(seq) > 0 {
		it, n, err := splitElement(seq, true, 1)
		if err != nil {
			return nil, err
		}
		if it.tag != 0xFFFEE000 {
			return nil, fmt.Errorf("(%04X,%04X) inside a sequence where an item was expected", it.tag>>16, it.tag&0xFFFF)
		}
		els, err := splitElements(it.value, implicit)
		if err != nil {
			return nil, err
		}
		out = append(out, els)
		seq = seq[n:]
	}
	return out, nil
}

func commitUID(v []byte) string { return strings.TrimRight(string(v), " \x00") }

// decodeCommitRequest reads the Transaction UID and the Referenced SOP
// Sequence of an N-ACTION-RQ's action information.
func decodeCommitRequest(b []byte, implicit bool) (string, []sopRef, error) {
	els, err := splitElements(b, implicit)
	if err != nil {
		return "", nil, err
	}
	var txn string
	var refs []sopRef
	seen := false
	for _, e := range els {
		switch e.tag {
		case tagTransactionUID:
			txn = commitUID(e.value)
		case tagRefSOPSeq:
			seen = true
			its, err := sqItems(e.value, implicit)
			if err != nil {
				return "", nil, fmt.Errorf("Referenced SOP Sequence: %w", err)
			}
			if len(its) > maxCommitInstances {
				return "", nil, fmt.Errorf("Referenced SOP Sequence lists %d instances, at most %d per request", len(its), maxCommitInstances)
			}
			for i, it := range its {
				var r sopRef
				for _, e := range it {
					switch e.tag {
					case tagRefClass:
						r.class = commitUID(e.value)
					case tagRefInstance:
						r.instance = commitUID(e.value)
					}
				}
				if r.class == "" || r.instance == "" {
					return "", nil, &commitMissingError{fmt.Sprintf("Referenced SOP Class or Instance UID of item %d", i+1)}
				}
				refs = append(refs, r)
			}
		}
	}
	switch {
	case txn == "":
		return "", nil, &commitMissingError{"Transaction UID (0008,1195)"}
	case !seen || len(refs) == 0:
		return "", nil, &commitMissingError{"Referenced SOP Sequence (0008,1199)"}
	}
	return txn, refs, nil
}

// encode writes the event information of a result (PS3.4 J.3.3.1):
// Transaction UID, Retrieve AE Title, the Referenced SOP Sequence of the
// committed instances and the Failed SOP Sequence with reasons.
func (r *commitResult) encode(implicit bool) []byte {
	var b []byte
	b = commitElement(b, tagRetrieveAE, "AE", commitPad(r.aet, ' '), implicit)
	b = commitElement(b, tagTransactionUID, "UI", commitPad(r.txn, 0), implicit)
	seq := func(tag uint32, refs []sopRef, withReason bool) {
		var v []byte
		for _, ref := range refs {
			var it []byte
			it = commitElement(it, tagRefClass, "UI", commitPad(ref.class, 0), implicit)
			it = commitElement(it, tagRefInstance, "UI", commitPad(ref.instance, 0), implicit)
			if withReason {
				it = commitElement(it, tagFailureReason, "US", binary.LittleEndian.AppendUint16(nil, ref.reason), implicit)
			}
			v = binary.LittleEndian.AppendUint16(v, 0xFFFE)
			v = binary.LittleEndian.AppendUint16(v, 0xE000)
			v = binary.LittleEndian.AppendUint32(v, uint32(len(it)))
			v = append(v, it...)
		}
		b = commitElement(b, tag, "SQ", v, implicit)
	}
	// Tags in ascending order: (0008,1198) before (0008,1199).
	if len(r.fail) > 0 {
		seq(tagFailedSOPSeq, r.fail, true)
	}
	if len(r.ok) > 0 {
		seq(tagRefSOPSeq, r.ok, false)
	}
	return b
}

func commitPad(s string, pad byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, pad)
	}
	return b
}

func commitElement(b []byte, tag uint32, vr string, v []byte, implicit bool) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	switch {
	case implicit:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	case vr == "SQ":
		b = append(b, 'S', 'Q', 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	default:
		b = append(b, vr...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	}
	return append(b, v...)
}
