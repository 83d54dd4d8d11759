package scp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// storeSCP is a move destination: a real dimse server that accepts
// Secondary Capture (every class with anyClass) in the syntaxes given
// and keeps what it receives; with gate set, each C-STORE waits for a
// value on it first.
type storeSCP struct {
	syntaxes []string
	anyClass bool
	gate     chan struct{}
	mu       sync.Mutex
	got      map[string][]byte
	ts       map[string]string
	origin   []string
}

func (h *storeSCP) Associate(ctx context.Context, _ *dimse.Association) (context.Context, error) {
	return ctx, nil
}
func (h *storeSCP) Echo(context.Context, *dimse.Association) uint16 { return 0 }
func (h *storeSCP) Find(context.Context, *dimse.Association, *dimse.FindRequest, func([]byte) error) (uint16, string) {
	return 0x0211, ""
}
func (h *storeSCP) Closed(context.Context, *dimse.Association, error) {}
func (h *storeSCP) Store(_ context.Context, _ *dimse.Association, rq *dimse.StoreRequest) (uint16, string) {
	if h.gate != nil {
		<-h.gate
	}
	b, err := io.ReadAll(rq.Data)
	if err != nil { // the association broke mid data set
		return 0xA700, err.Error()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got[rq.SOPInstance], h.ts[rq.SOPInstance] = b, rq.TransferSyntax
	h.origin = append(h.origin, rq.Command.String(dimse.TagMoveOriginatorAE))
	return 0, ""
}

func (h *storeSCP) start(t *testing.T) int {
	h.got, h.ts = map[string][]byte{}, map[string]string{}
	srv, err := dimse.New(dimse.Options{AETitle: "DEST", Handler: h, Syntaxes: func(as string) []string {
		if as == sc || h.anyClass {
			return h.syntaxes
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, srv)
	return ln.Addr().(*net.TCPAddr).Port
}

// retrieveRig is a gateway DICOM service on a real archive holding one
// study of five instances, with AEs of two institutions.
type retrieveRig struct {
	addr  string
	al    *audit.Log
	study string
	sops  []string
	src   map[string][]byte // data sets as stored (explicit VR LE)
}

// newRetrieveRig starts the rig; tc, when given, makes the service's
// Transcoder on its archive.
func newRetrieveRig(t *testing.T, destPort, otherPort int, tc ...func(*archive.Service) scp.Transcoder) *retrieveRig {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	rig := &retrieveRig{al: al, study: "1.2.826.0.1.9.1", src: map[string][]byte{}}
	var stored []*archive.Stored
	for i := range 5 {
		sop := fmt.Sprintf("1.2.826.0.1.9.1.2.%d", i+1)
		ds := gwtest.Minimal(rig.study, "1.2.826.0.1.9.1.2", sop)
		st, err := svc.Store(context.Background(), bytes.NewReader(gwtest.Part10(sc, sop, ds)), "")
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, st)
		rig.sops, rig.src[sop] = append(rig.sops, sop), ds
	}
	// A second study: one instance labelled JPEG Lossless (no pixel data,
	// enough for the archive), one native.
	for i, ts := range []string{"1.2.840.10008.1.2.4.70", dcm.ExplicitVRLittleEndian} {
		sop := fmt.Sprintf("1.2.826.0.1.9.2.2.%d", i+1)
		f := part10(sop, ts, gwtest.Minimal("1.2.826.0.1.9.2", "1.2.826.0.1.9.2.2", sop))
		st, err := svc.Store(context.Background(), bytes.NewReader(f), "")
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, st)
	}
	if err := svc.Commit(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	ops := []access.Operation{access.OpQuery, access.OpRetrieve}
	aes, err := access.NewAEs([]access.AE{
		{AET: "WS", Host: "127.0.0.1", Port: destPort, Institution: "h1", Allow: ops},
		{AET: "OTHERWS", Host: "127.0.0.1", Port: otherPort, Institution: "h2", Allow: ops},
		{AET: "QUERYONLY", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpQuery}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opt := scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(),
		Server: dimse.Options{SpoolDir: dir}}
	if len(tc) > 0 {
		opt.Transcoder = tc[0](svc)
	}
	s, err := scp.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, s)
	rig.addr = ln.Addr().String()
	return rig
}

// rsp is one C-MOVE/C-GET response as the requester reads it.
type rsp struct {
	status                               uint16
	comment                              string
	remaining, completed, failed, warned int
	data                                 []byte
}

func readRsp(t *testing.T, c *dimse.Client) rsp {
	t.Helper()
	cmd, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	n := func(tag uint16) int {
		v, ok := cmd.U16(tag)
		if !ok {
			return -1
		}
		return int(v)
	}
	st, _ := cmd.U16(dimse.TagStatus)
	return rsp{status: st, comment: cmd.String(dimse.TagErrorComment), remaining: n(dimse.TagRemaining),
		completed: n(dimse.TagCompleted), failed: n(dimse.TagFailed), warned: n(dimse.TagWarning), data: data}
}

// move sends C-MOVE-RQ (Study Root, explicit VR) and returns the
// association to read responses from.
func (r *retrieveRig) move(t *testing.T, caller, dest string, keys []byte) *dimse.Client {
	t.Helper()
	c, err := dimse.Dial(context.Background(), r.addr, dimse.ClientOptions{CallingAE: caller, CalledAE: "IMGCLOUD",
		Contexts: []dimse.PresentationContext{{AbstractSyntax: scp.StudyRootMove, TransferSyntaxes: []string{dcm.ExplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id, _, ok := c.Context(scp.StudyRootMove)
	if !ok {
		t.Fatal("Study Root C-MOVE not accepted")
	}
	cmd := dimse.Command{}
	cmd.SetString(dimse.TagAffectedSOPClassUID, scp.StudyRootMove)
	cmd.SetU16(dimse.TagCommandField, dimse.CMoveRQ)
	cmd.SetU16(dimse.TagMessageID, 7)
	cmd.SetU16(dimse.TagPriority, 0)
	cmd.SetString(dimse.TagMoveDestination, dest)
	if err := c.SendMessage(id, cmd, keys); err != nil {
		t.Fatal(err)
	}
	return c
}

func studyKeys(study string) []byte {
	return append(gwtest.Elem(0x0008, 0x0052, "CS", gwtest.Str("STUDY", ' ')), gwtest.Elem(0x0020, 0x000D, "UI", gwtest.Str(study, 0))...)
}

// TestMove runs C-MOVE against a real archive to a real DIMSE storage
// SCP that accepts only Implicit VR Little Endian: counts in pending and
// final responses, the data sets re-encoded from the stored explicit VR
// (they convert back to the stored bytes), the refusals (unknown
// destination, another institution's AE, an AE without retrieve), a
// study that does not exist, and one audit event per operation.
func TestMove(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ImplicitVRLittleEndian}}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port)

	c := rig.move(t, "WS", "WS", studyKeys(rig.study))
	var pend []rsp
	final := readRsp(t, c)
	for final.status == 0xFF00 {
		pend = append(pend, final)
		final = readRsp(t, c)
	}
	if final.status != 0 || final.completed != 5 || final.failed != 0 || final.warned != 0 {
		t.Fatalf("final: %+v, want 0000 with 5 completed", final)
	}
	if len(pend) != 4 || pend[0].remaining != 4 || pend[0].completed != 1 || pend[3].remaining != 1 {
		t.Errorf("pending responses: %+v", pend)
	}
	for _, sop := range rig.sops {
		got, ok := dest.got[sop]
		if !ok || dest.ts[sop] != dcm.ImplicitVRLittleEndian {
			t.Fatalf("%s: received %v in %q", sop, ok, dest.ts[sop])
		}
		var back bytes.Buffer
		if err := dcm.Reencode(&back, bytes.NewReader(got), dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Bytes(), rig.src[sop]) {
			t.Errorf("%s: received data set does not convert back to the stored one", sop)
		}
	}
	if dest.origin[0] != "WS" {
		t.Errorf("Move Originator AE %q, want WS", dest.origin[0])
	}

	// Other levels, without the higher keys: IMAGE by a SOP Instance UID
	// list, SERIES by its UID alone.
	for _, tc := range []struct {
		name string
		keys []byte
		want int
	}{
		{"IMAGE level, two instances", append(gwtest.Elem(0x0008, 0x0018, "UI", gwtest.Str(rig.sops[0]+`\`+rig.sops[3], 0)),
			gwtest.Elem(0x0008, 0x0052, "CS", gwtest.Str("IMAGE", ' '))...), 2},
		{"SERIES level", append(gwtest.Elem(0x0008, 0x0052, "CS", gwtest.Str("SERIES", ' ')),
			gwtest.Elem(0x0020, 0x000E, "UI", gwtest.Str("1.2.826.0.1.9.1.2", 0))...), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rig.move(t, "WS", "WS", tc.keys)
			r := readRsp(t, c)
			for r.status == 0xFF00 {
				r = readRsp(t, c)
			}
			if r.status != 0 || r.completed != tc.want {
				t.Errorf("%+v, want 0000 with %d completed", r, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, caller, dest string
		keys               []byte
		status             uint16
		comment            string
	}{
		{"unknown destination", "WS", "NOWHERE", studyKeys(rig.study), 0xA801, "not a known AE"},
		{"another institution's AE", "WS", "OTHERWS", studyKeys(rig.study), 0xA801, "not an AE of institution h1"},
		{"AE without retrieve", "QUERYONLY", "WS", studyKeys(rig.study), 0x0124, "not allowed"},
		{"study that does not exist", "WS", "WS", studyKeys("1.2.826.0.1.9.404"), 0, ""},
		{"no level", "WS", "WS", gwtest.Elem(0x0020, 0x000D, "UI", gwtest.Str(rig.study, 0)), 0xA900, "QueryRetrieveLevel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readRsp(t, rig.move(t, tc.caller, tc.dest, tc.keys))
			if r.status != tc.status || !strings.Contains(r.comment, tc.comment) || (r.status == 0 && r.completed != 0) {
				t.Errorf("%+v, want %04X with %q", r, tc.status, tc.comment)
			}
		})
	}

	time.Sleep(100 * time.Millisecond)
	if err := rig.al.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	rig.al.Query(audit.Filter{}, func(e audit.Event) error {
		if e.Action == "DIMSE C-MOVE" {
			got[e.Actor+" "+strconv.Itoa(e.Outcome)+" "+e.Study]++
		}
		return nil
	})
	for k, n := range map[string]int{"ae:WS 200 " + rig.study: 3, "ae:WS 400 " + rig.study: 3, "ae:QUERYONLY 403 ": 1, "ae:WS 200 1.2.826.0.1.9.404": 1} {
		if got[k] != n {
			t.Errorf("audit: %d C-MOVE events %q, want %d (all: %v)", got[k], k, n, got)
		}
	}
}

// TestMoveCancel sends C-CANCEL while a sub-operation is held by the
// destination: the move stops after it, FE00 with the counts so far and
// the instances not sent as the Failed SOP Instance UID List.
func TestMoveCancel(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ExplicitVRLittleEndian}, gate: make(chan struct{})}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port)
	c := rig.move(t, "WS", "WS", studyKeys(rig.study))
	dest.gate <- struct{}{}
	if r := readRsp(t, c); r.status != 0xFF00 || r.completed != 1 {
		t.Fatalf("first response %+v, want pending with 1 completed", r)
	}
	id, _, _ := c.Context(scp.StudyRootMove)
	cancel := dimse.Command{}
	cancel.SetU16(dimse.TagCommandField, dimse.CCancelRQ)
	cancel.SetU16(dimse.TagMessageIDRespondedTo, 7)
	if err := c.SendMessage(id, cancel, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the cancel reaches the gateway during sub-operation 2
	dest.gate <- struct{}{}
	r := readRsp(t, c)
	if r.status == 0xFF00 {
		r = readRsp(t, c)
	}
	if r.status != 0xFE00 || r.completed != 2 || r.remaining != 3 {
		t.Fatalf("after cancel: %+v, want FE00 with 2 completed, 3 remaining", r)
	}
	for _, sop := range rig.sops[2:] {
		if !bytes.Contains(r.data, []byte(sop)) {
			t.Errorf("failed list %q lacks %s", r.data, sop)
		}
	}
	if len(dest.got) != 2 {
		t.Errorf("destination received %d instances, want 2", len(dest.got))
	}
	if err := c.Release(); err != nil {
		t.Errorf("release after a canceled move: %v", err)
	}
}

// TestRetrieveFailures: sub-operations that cannot be sent fail with a
// reason, and the final status names them: a C-GET whose requester took
// the SCP role for no storage class (A702, every instance in the Failed
// SOP Instance UID List), and a C-MOVE of an instance stored compressed to
// a destination that accepts only native syntaxes (the gateway does not
// decode here: the Transcoder seam), beside instances that go (B000).
func TestRetrieveFailures(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian}}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port)

	c, err := dimse.Dial(context.Background(), rig.addr, dimse.ClientOptions{CallingAE: "WS", CalledAE: "IMGCLOUD",
		Contexts: []dimse.PresentationContext{{AbstractSyntax: scp.StudyRootGet, TransferSyntaxes: []string{dcm.ExplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := c.Context(scp.StudyRootGet)
	cmd := dimse.Command{}
	cmd.SetString(dimse.TagAffectedSOPClassUID, scp.StudyRootGet)
	cmd.SetU16(dimse.TagCommandField, dimse.CGetRQ)
	cmd.SetU16(dimse.TagMessageID, 1)
	cmd.SetU16(dimse.TagPriority, 0)
	if err := c.SendMessage(id, cmd, studyKeys(rig.study)); err != nil {
		t.Fatal(err)
	}
	r := readRsp(t, c)
	for r.status == 0xFF00 {
		r = readRsp(t, c)
	}
	if r.status != 0xA702 || r.failed != 5 || r.completed != 0 || !strings.Contains(r.comment, "not accepted") {
		t.Errorf("C-GET without storage roles: %+v, want A702 with 5 failed", r)
	}
	for _, sop := range rig.sops {
		if !bytes.Contains(r.data, []byte(sop)) {
			t.Errorf("failed list %q lacks %s", r.data, sop)
		}
	}
	c.Release()
}

// TestMoveCompressedToNative moves a study holding an instance stored
// compressed to a destination that accepts only native syntaxes: that
// sub-operation fails with its reason, the native one goes, B000.
func TestMoveCompressedToNative(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian}}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port)
	c := rig.move(t, "WS", "WS", studyKeys("1.2.826.0.1.9.2"))
	r := readRsp(t, c)
	for r.status == 0xFF00 {
		r = readRsp(t, c)
	}
	if r.status != 0xB000 || r.completed != 1 || r.failed != 1 || !strings.Contains(r.comment, "1.2.840.10008.1.2.4.70 not accepted") ||
		!bytes.Contains(r.data, []byte("1.2.826.0.1.9.2.2.1")) {
		t.Errorf("%+v (failed list %q), want B000, 1 completed, 1 failed that says why", r, r.data)
	}
	if _, ok := dest.got["1.2.826.0.1.9.2.2.2"]; !ok || len(dest.got) != 1 {
		t.Errorf("destination received %d instances, want the native one", len(dest.got))
	}
}

// part10 is a Part 10 file of a Secondary Capture data set labelled with
// transfer syntax ts.
func part10(sop, ts string, ds []byte) []byte {
	var meta []byte
	meta = append(meta, gwtest.Elem(0x0002, 0x0001, "OB", []byte{0, 1})...)
	meta = append(meta, gwtest.Elem(0x0002, 0x0002, "UI", gwtest.Str(sc, 0))...)
	meta = append(meta, gwtest.Elem(0x0002, 0x0003, "UI", gwtest.Str(sop, 0))...)
	meta = append(meta, gwtest.Elem(0x0002, 0x0010, "UI", gwtest.Str(ts, 0))...)
	out := append(make([]byte, 128), "DICM"...)
	out = append(out, gwtest.Elem(0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))...)
	return append(append(out, meta...), ds...)
}

// failSecond re-encodes as NativeTranscoder does, but its second
// conversion fails after the C-STORE-RQ went out: the sub-association
// is left in the middle of a message.
type failSecond struct {
	scp.NativeTranscoder
	mu sync.Mutex
	n  int
}

func (f *failSecond) Transcode(ctx context.Context, in *archive.Instance, to string) (io.ReadCloser, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	rc, err := f.NativeTranscoder.Transcode(ctx, in, to)
	if err != nil || n != 2 {
		return rc, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		io.CopyN(pw, rc, 100)
		pw.CloseWithError(fmt.Errorf("test: conversion %d fails", n))
	}()
	return pr, nil
}

// TestMoveRecovers: a sub-operation that breaks its association (the
// data set cannot be produced after its command was sent) fails alone;
// the move aborts that association, opens a new one and sends the rest.
func TestMoveRecovers(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ImplicitVRLittleEndian}}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port, func(svc *archive.Service) scp.Transcoder {
		return &failSecond{NativeTranscoder: scp.NativeTranscoder{Archive: svc}}
	})
	c := rig.move(t, "WS", "WS", studyKeys(rig.study))
	r := readRsp(t, c)
	for r.status == 0xFF00 {
		r = readRsp(t, c)
	}
	if r.status != 0xB000 || r.completed != 4 || r.failed != 1 || !strings.Contains(r.comment, "conversion 2 fails") {
		t.Fatalf("%+v, want B000 with 4 completed and the failure's reason", r)
	}
	if !bytes.Contains(r.data, []byte(rig.sops[1])) {
		t.Errorf("failed list %q lacks %s", r.data, rig.sops[1])
	}
	dest.mu.Lock()
	defer dest.mu.Unlock()
	if _, ok := dest.got[rig.sops[1]]; ok || len(dest.got) != 4 {
		t.Errorf("destination received %d instances (the failed one: %v), want the 4 others", len(dest.got), ok)
	}
}

// TestMoveRequesterAborts: the requester aborts while the destination
// holds a sub-operation; the move does not wait for the destination: it
// ends (audited FE00, association ended) with the sub-operation cut short.
func TestMoveRequesterAborts(t *testing.T) {
	dest := &storeSCP{syntaxes: []string{dcm.ExplicitVRLittleEndian}, gate: make(chan struct{})}
	port := dest.start(t)
	rig := newRetrieveRig(t, port, port)
	t.Cleanup(func() { close(dest.gate) })
	c := rig.move(t, "WS", "WS", studyKeys(rig.study))
	dest.gate <- struct{}{}
	if r := readRsp(t, c); r.status != 0xFF00 {
		t.Fatalf("first response %+v, want pending", r)
	}
	c.Abort()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := rig.al.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		var detail string
		rig.al.Query(audit.Filter{}, func(e audit.Event) error {
			if e.Action == "DIMSE C-MOVE" {
				detail = e.Detail
			}
			return nil
		})
		if detail != "" {
			if !strings.Contains(detail, "status FE00") || !strings.Contains(detail, "1 completed") || !strings.Contains(detail, "association ended") {
				t.Errorf("C-MOVE audited %q, want FE00 after 1 completed, association ended", detail)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the move still waits on the destination 5 s after its requester aborted")
		}
	}
}
