// Package scp is the gateway's DICOM service on the archive: who may
// associate (the known-AE registry of package access), verification
// (C-ECHO) and storage (C-STORE) through the same archive path as STOW-RS,
// every association and operation audited, counted and logged with the
// association id. It speaks DIMSE through package dimse and knows nothing
// of HTTP.
package scp

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
)

// Verification is the Verification SOP Class (C-ECHO).
const Verification = "1.2.840.10008.1.1"

// Archive is what the service needs of archive.Service.
type Archive interface {
	Durable(ctx context.Context, sop string) (*archive.Instance, error)
	StoreExpect(ctx context.Context, r io.Reader, want archive.Expect) (*archive.Stored, error)
	Sync(ctx context.Context) error
	Notify(ctx context.Context, stored []*archive.Stored)
	Search(ctx context.Context, q archive.Query, scope archive.Scope) (*archive.Result, error)
	Instances(ctx context.Context, study, series, sop string) ([]*archive.Instance, error)
	InstanceBySOP(ctx context.Context, sop string) (*archive.Instance, error)
	Open(ctx context.Context, in *archive.Instance) (io.ReadCloser, error)
}

// Auditor records audit events (audit.Log).
type Auditor interface {
	Record(e audit.Event)
}

// Options configure the service.
type Options struct {
	// AETitle is the gateway's AE title (default IMGCLOUD).
	AETitle string
	// CheckCalledAET rejects associations whose called AE title is not
	// AETitle.
	CheckCalledAET bool
	// AEs are the known AEs; an association from any other calling AE
	// title or address is rejected.
	AEs     *access.AEs
	Archive Archive
	Audit   Auditor
	// PersonKeyOf names the person of a study in audit events (optional).
	PersonKeyOf func(study string) string
	// Transcoder converts data sets for C-MOVE and C-GET sub-operations
	// when the peer does not accept the stored syntax (default:
	// NativeTranscoder on Archive; DecodingTranscoder also decodes).
	Transcoder Transcoder
	// Registerer receives the service's metrics (optional).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// ClientTLS is the TLS configuration (the gateway's client
	// certificate, the CAs it trusts) of associations the gateway opens
	// to AEs marked tls, such as a storage commitment report (optional).
	ClientTLS *tls.Config
	// ReportRetryDelays are the waits before each new attempt to deliver
	// a storage commitment report over a new association (default 2 s,
	// 10 s, 1 min).
	ReportRetryDelays []time.Duration
	// Server are the upper layer's options (timeouts, bounds, spool);
	// AETitle, Syntaxes, Handler and Logger are set by New.
	Server dimse.Options
}

// Service is the DICOM service: serve it with Serve, stop it with Close.
type Service struct {
	// base ends background work (report deliveries) on Close; bg waits
	// for it.
	base context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup
	// notes are the studies the observers hear of (observe.go).
	notes studyNotes

	opt Options
	log *slog.Logger
	srv *dimse.Server
	m   metrics
	gc  *groupCommit
	tc  Transcoder
}

type metrics struct {
	assocs *prometheus.CounterVec
	open   prometheus.Gauge
	ops    *prometheus.CounterVec
	bytes  prometheus.Counter
	// syncs counts the group commit's syncs: C-STORE successes over
	// syncs is the instances one sync covers.
	syncs prometheus.Counter
}

// New builds the service.
func New(opt Options) (*Service, error) {
	if opt.AETitle == "" {
		opt.AETitle = "IMGCLOUD"
	}
	if opt.Archive == nil || opt.Audit == nil {
		return nil, errors.New("scp: Options.Archive and Options.Audit are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{opt: opt, log: opt.Logger, gc: newGroupCommit(opt.Archive), tc: opt.Transcoder}
	if s.tc == nil {
		s.tc = NativeTranscoder{Archive: opt.Archive}
	}
	s.m = metrics{
		assocs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_dimse_associations_total", Help: "DICOM associations requested, by outcome (accepted, rejected)."}, []string{"outcome"}),
		open:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_dimse_associations_open", Help: "DICOM associations open."}),
		ops:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_dimse_operations_total", Help: "DIMSE operations, by command and status (hexadecimal)."}, []string{"command", "status"}),
		bytes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_dimse_stored_bytes_total", Help: "Bytes of data sets received by C-STORE."}),
		syncs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_dimse_commit_syncs_total", Help: "Syncs of the C-STORE group commit (each makes the instances of concurrent associations durable)."}),
	}
	s.gc.syncs = s.m.syncs
	if opt.Registerer != nil {
		for _, c := range []prometheus.Collector{s.m.assocs, s.m.open, s.m.ops, s.m.bytes, s.m.syncs} {
			if err := opt.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register DIMSE metrics: %w", err)
			}
		}
	}
	so := opt.Server
	so.AETitle, so.Syntaxes, so.Handler, so.Logger = opt.AETitle, syntaxes, s, opt.Logger
	srv, err := dimse.New(so)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	s.base, s.stop = context.WithCancel(context.Background())
	s.notes = studyNotes{seen: map[string]bool{}, dirty: map[string]note{}}
	s.bg.Add(1)
	go s.settleLoop()
	return s, nil
}

// Serve accepts associations on ln until ctx ends.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error { return s.srv.Serve(ctx, ln) }

// Close aborts open associations, stops report deliveries and waits for
// them.
func (s *Service) Close(ctx context.Context) error {
	err := s.srv.Close(ctx)
	s.stop()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close DICOM service: %w", ctx.Err())
	}
	return err
}

// syntaxes are the presentation contexts the gateway accepts:
// verification, and every storage SOP class in the syntaxes it stores.
func syntaxes(abstract string) []string {
	switch {
	case abstract == Verification:
		return []string{dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian, dcm.ExplicitVRBigEndian}
	case abstract == StudyRootFind || abstract == PatientRootFind,
		abstract == StudyRootMove || abstract == PatientRootMove || abstract == StudyRootGet || abstract == PatientRootGet:
		return []string{dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian}
	case dcm.IsStorageSOPClass(abstract):
		return dcm.StoredTransferSyntaxes
	case abstract == StorageCommitment: // commitment.go
		return []string{dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian}
	}
	return nil
}

type ctxKey struct{}

// session is what the service keeps of an accepted association.
type session struct {
	ae     access.AE
	source string
	start  time.Time
	stored int
}

func sessionOf(ctx context.Context) *session {
	ss, _ := ctx.Value(ctxKey{}).(*session)
	return ss
}

// Associate accepts a calling AE title that the registry knows at the
// source address, and (with CheckCalledAET) only the gateway's called AE
// title.
func (s *Service) Associate(ctx context.Context, a *dimse.Association) (context.Context, error) {
	ip := remoteIP(a.Remote)
	ev := audit.Event{Time: time.Now().UTC(), Actor: "ae:" + a.RQ.CallingAE, Action: "DIMSE A-ASSOCIATE",
		Source: ip.String(), RequestID: a.ID}
	var err error
	ae, known := s.opt.AEs.Lookup(a.RQ.CallingAE, ip)
	switch {
	case s.opt.CheckCalledAET && a.RQ.CalledAE != s.opt.AETitle:
		err = dimse.RejectCalledAE(fmt.Sprintf("called AE title %q is not this gateway's (%s)", a.RQ.CalledAE, s.opt.AETitle))
	case !known:
		err = dimse.RejectCallingAE(fmt.Sprintf("calling AE title %q from %s is not a known AE", a.RQ.CallingAE, ip))
	default:
		// An AE marked tls is not recognised on the plain port or
		// without a trusted client certificate (the log says why).
		if terr := ae.CheckTransport(a.TLS != nil, a.TLS != nil && len(a.TLS.VerifiedChains) > 0); terr != nil {
			err = dimse.RejectCallingAE(terr.Error())
		}
	}
	if err != nil {
		s.m.assocs.WithLabelValues("rejected").Inc()
		ev.Outcome, ev.Detail = 403, err.Error()
		s.opt.Audit.Record(ev)
		return nil, err
	}
	s.m.assocs.WithLabelValues("accepted").Inc()
	s.m.open.Inc()
	ev.Institution, ev.Outcome, ev.Detail = ae.Institution, 200, "called "+a.RQ.CalledAE
	s.opt.Audit.Record(ev)
	a.Log.Info("DICOM association accepted", "institution", ae.Institution)
	return context.WithValue(ctx, ctxKey{}, &session{ae: ae, source: ip.String(), start: time.Now()}), nil
}

// Closed audits the end of an association.
func (s *Service) Closed(ctx context.Context, a *dimse.Association, err error) {
	s.m.open.Dec()
	ss := sessionOf(ctx)
	s.gc.leave(ss)
	ev := audit.Event{Time: time.Now().UTC(), Actor: "ae:" + a.RQ.CallingAE, Institution: ss.ae.Institution,
		Action: "DIMSE A-RELEASE", Outcome: 200, Source: ss.source, RequestID: a.ID,
		Detail: fmt.Sprintf("%d instance(s) stored in %s", ss.stored, time.Since(ss.start).Round(time.Millisecond))}
	if err != nil {
		ev.Action, ev.Outcome, ev.Detail = "DIMSE A-ABORT", 499, ev.Detail+"; "+err.Error()
	}
	s.opt.Audit.Record(ev)
	a.Log.Info("DICOM association ended", "stored", ss.stored, "err", err)
}

// Echo answers C-ECHO: success for any known AE.
func (s *Service) Echo(ctx context.Context, a *dimse.Association) uint16 {
	s.op(ctx, a, "C-ECHO", 0, "", "", "")
	return 0
}

// Store stores one instance through the archive, as STOW-RS does, and
// answers success only once it is durable (archive.Commit).
func (s *Service) Store(ctx context.Context, a *dimse.Association, rq *dimse.StoreRequest) (uint16, string) {
	ss := sessionOf(ctx)
	// From now until it joins a commit (or fails) a commit of other
	// associations may wait for this instance (commit.go).
	s.gc.begin(ss)
	defer s.gc.abandon(ss)
	data := &counted{r: rq.Data}
	defer func() { s.m.bytes.Add(float64(data.n)) }()
	p, err := ss.ae.Principal(access.OpStore)
	if err != nil {
		return s.storeDone(ctx, a, rq, nil, 0x0124, err.Error())
	}
	ctx = auth.WithPrincipal(ctx, p)
	meta := fileMeta(rq, a.RQ.CallingAE)
	st, err := s.opt.Archive.StoreExpect(ctx, io.MultiReader(strings.NewReader(meta), data),
		archive.Expect{SOP: rq.SOPInstance, SOPClass: rq.SOPClass})
	if err == nil && !st.Duplicate {
		err = s.gc.commit(context.WithoutCancel(ctx), ss, st)
	}
	if err != nil {
		status, comment := storeStatus(err)
		if status == 0x0110 && !isStoreError(err) && !errors.Is(err, archive.ErrBadBody) {
			a.Log.Error("C-STORE failed", "sop", rq.SOPInstance, "err", err)
		} else {
			a.Log.Info("C-STORE refused", "sop", rq.SOPInstance, "status", fmt.Sprintf("%04X", status), "err", err)
		}
		return s.storeDone(ctx, a, rq, st, status, comment)
	}
	ss.stored++
	if !st.Duplicate {
		s.ran(ctx, st) // observe.go
	}
	return s.storeDone(ctx, a, rq, st, 0, "")
}

func (s *Service) storeDone(ctx context.Context, a *dimse.Association, rq *dimse.StoreRequest, st *archive.Stored, status uint16, comment string) (uint16, string) {
	study, series := "", ""
	detail := comment
	if st != nil {
		study, series = st.Study, st.Series
		if st.Compressed != "" && !st.Duplicate {
			// The audit says so; the answer is the same as for any store.
			detail = "stored compressed at ingest in " + st.Compressed + " (" + dcm.SyntaxName(st.Compressed) + ")"
		}
	}
	s.op(ctx, a, "C-STORE", status, detail, study, series, rq.SOPInstance)
	return status, clipComment(comment)
}

// counted counts the bytes of a data set as they are read.
type counted struct {
	r io.Reader
	n int64
}

func (c *counted) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func isStoreError(err error) bool {
	var se *archive.StoreError
	return errors.As(err, &se)
}

// storeStatus maps an archive error to a C-STORE status (PS3.4 B.2.3,
// PS3.7 C) and an error comment.
func storeStatus(err error) (uint16, string) {
	var se *archive.StoreError
	if errors.As(err, &se) {
		switch se.Reason {
		case archive.ReasonNotAuthorized:
			return 0x0124, se.Err.Error()
		case archive.ReasonCannotUnderstand:
			return 0xC000, se.Err.Error()
		case archive.ReasonSOPClassNotMatched:
			return 0xA900, se.Err.Error()
		case archive.ReasonOutOfResources:
			return 0xA700, "out of resources: " + se.Err.Error()
		case archive.ReasonDuplicateSOP:
			return 0x0111, se.Err.Error()
		}
		return 0xC000, se.Err.Error()
	}
	switch {
	case errors.Is(err, archive.ErrBadBody):
		// The association broke or was aborted mid data set: nothing
		// was stored and no response can be sent (audited as such).
		return 0x0110, "data set not received in full"
	case errors.Is(err, archive.ErrUnavailable):
		return 0xA700, "storage unavailable, retry later"
	case errors.Is(err, archive.ErrTooLarge):
		return 0xA700, "instance larger than the gateway accepts"
	}
	return 0x0110, "processing failure"
}

// clipComment fits an Error Comment (LO: 64 characters) without cutting
// a UTF-8 sequence.
func clipComment(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// op audits, counts and logs one operation.
func (s *Service) op(ctx context.Context, a *dimse.Association, cmd string, status uint16, comment string, ids ...string) {
	ss := sessionOf(ctx)
	s.m.ops.WithLabelValues(cmd, fmt.Sprintf("%04X", status)).Inc()
	ev := audit.Event{Time: time.Now().UTC(), Actor: "ae:" + a.RQ.CallingAE, Role: string(auth.RolePACS),
		Institution: ss.ae.Institution, Action: "DIMSE " + cmd, Outcome: outcome(status),
		Source: ss.source, RequestID: a.ID, Detail: fmt.Sprintf("status %04X", status)}
	switch cmd {
	case "C-ECHO":
		ev.Role = ""
	case "C-FIND", "C-MOVE", "C-GET":
		ev.Role = string(auth.RoleClinician) // who an AE reads as (access.AE.Principal)
	}
	if comment != "" {
		ev.Detail += ": " + comment
	}
	if len(ids) == 3 {
		ev.Study, ev.Series, ev.Instance = ids[0], ids[1], ids[2]
	}
	if ev.Study != "" && s.opt.PersonKeyOf != nil {
		ev.PersonKey = s.opt.PersonKeyOf(ev.Study)
	}
	s.opt.Audit.Record(ev)
	a.Log.Debug("DIMSE operation", "command", cmd, "status", fmt.Sprintf("%04X", status), "sop", ev.Instance)
}

// outcome is an HTTP-like status for the audit trail's reports: 2xx
// success (warnings included), 403 refused, 409 conflict, 400 bad data,
// 503 out of resources, 500 otherwise.
func outcome(status uint16) int {
	switch {
	case status == 0 || status&0xF000 == 0xB000:
		return 200
	case status == 0x0124:
		return 403
	case status == 0x0111:
		return 409
	case status&0xFF00 == 0xA700:
		return 503
	case status&0xF000 == 0xC000 || status&0xFF00 == 0xA900 || status == 0xA801:
		return 400
	case status == 0xFE00:
		return 499
	}
	return 500
}

func remoteIP(a net.Addr) net.IP {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	host, _, _ := net.SplitHostPort(a.String())
	return net.ParseIP(host)
}

// fileMeta is the preamble and file meta information (PS3.10 7.1) that
// make the received data set a Part 10 file, as STOW-RS receives it.
func fileMeta(rq *dimse.StoreRequest, source string) string {
	var body []byte
	el := func(elem uint16, vr string, v string) {
		if len(v)%2 == 1 {
			if vr == "UI" {
				v += "\x00"
			} else {
				v += " "
			}
		}
		body = binary.LittleEndian.AppendUint16(body, 2)
		body = binary.LittleEndian.AppendUint16(body, elem)
		body = append(body, vr...)
		if vr == "OB" {
			body = append(body, 0, 0)
			body = binary.LittleEndian.AppendUint32(body, uint32(len(v)))
		} else {
			body = binary.LittleEndian.AppendUint16(body, uint16(len(v)))
		}
		body = append(body, v...)
	}
	el(0x0001, "OB", "\x00\x01")
	el(0x0002, "UI", rq.SOPClass)
	el(0x0003, "UI", rq.SOPInstance)
	el(0x0010, "UI", rq.TransferSyntax)
	el(0x0012, "UI", dimse.ImplClassUID)
	el(0x0013, "SH", dimse.ImplVersion)
	if source != "" {
		el(0x0016, "AE", source)
	}
	head := make([]byte, 128, 128+4+12+len(body))
	head = append(head, "DICM"...)
	head = append(head, 2, 0, 0, 0, 'U', 'L', 4, 0)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(body)))
	return string(append(head, body...))
}
