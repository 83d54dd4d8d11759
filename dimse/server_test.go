package dimse_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dimse"
)

const (
	ctSOP      = "1.2.840.10008.5.1.4.1.1.2"
	explicitLE = "1.2.840.10008.1.2.1"
	implicitLE = "1.2.840.10008.1.2"
)

// recorder is a Handler that accepts callers not named "UNKNOWN" and keeps
// what C-STORE received.
type recorder struct {
	mu     sync.Mutex
	stored map[string][]byte
	closed []error
	// readErrs are the errors C-STORE data sets failed with.
	readErrs []error
	status   uint16
	// refuse, when not 0, answers C-STORE without reading the data set.
	refuse uint16
	// discard reads data sets and keeps only their sizes.
	discard bool
	sizes   map[string]int64
}

func (h *recorder) Associate(ctx context.Context, a *dimse.Association) (context.Context, error) {
	if a.RQ.CallingAE == "UNKNOWN" {
		return nil, dimse.RejectCallingAE("unknown")
	}
	return ctx, nil
}

func (h *recorder) Echo(context.Context, *dimse.Association) uint16 { return 0 }

func (h *recorder) Store(_ context.Context, _ *dimse.Association, rq *dimse.StoreRequest) (uint16, string) {
	if h.refuse != 0 {
		return h.refuse, "refused"
	}
	if h.discard {
		n, err := io.Copy(io.Discard, rq.Data)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.readErrs = append(h.readErrs, err)
			return 0xA700, "data set unreadable"
		}
		h.sizes[rq.SOPInstance] = n
		return 0, ""
	}
	b, err := io.ReadAll(rq.Data)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.readErrs = append(h.readErrs, err)
		return 0xA700, "data set unreadable"
	}
	if h.stored == nil {
		h.stored = map[string][]byte{}
	}
	h.stored[rq.SOPInstance] = b
	return h.status, ""
}

func (h *recorder) Find(_ context.Context, _ *dimse.Association, rq *dimse.FindRequest, match func([]byte) error) (uint16, string) {
	if err := match(rq.Identifier); err != nil {
		return 0xA700, err.Error()
	}
	return 0, ""
}

func (h *recorder) Closed(_ context.Context, _ *dimse.Association, err error) {
	h.mu.Lock()
	h.closed = append(h.closed, err)
	h.mu.Unlock()
}

func (h *recorder) storedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.stored)
}

func syntaxes(as string) []string {
	switch as {
	case "1.2.840.10008.1.1":
		return []string{implicitLE}
	case ctSOP:
		return []string{explicitLE, implicitLE}
	}
	return nil
}

func start(t testing.TB, opt dimse.Options) (string, *recorder) {
	t.Helper()
	h := &recorder{}
	opt.Handler, opt.Syntaxes = h, syntaxes
	srv, err := dimse.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		if err := srv.Close(cctx); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String(), h
}

var proposal = []dimse.PresentationContext{
	{AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{implicitLE}},
	{AbstractSyntax: ctSOP, TransferSyntaxes: []string{explicitLE}},
	{AbstractSyntax: "1.2.3.4.5.6", TransferSyntaxes: []string{explicitLE}}, // not supported
}

func dial(t testing.TB, addr, calling string) *dimse.Client {
	t.Helper()
	c, err := dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: calling, CalledAE: "IMGCLOUD", Contexts: proposal, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectAbort reads until the server's A-ABORT (or the connection's end).
func expectAbort(t *testing.T, c *dimse.Client) {
	t.Helper()
	for {
		typ, _, err := c.ReadPDU()
		if err != nil {
			t.Fatalf("want A-ABORT, read failed: %v", err)
		}
		if typ == dimse.PDUAbort {
			return
		}
	}
}

func TestEchoStoreRelease(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	c := dial(t, addr, "QASCU")
	if _, _, ok := c.Context("1.2.3.4.5.6"); ok {
		t.Error("an unknown abstract syntax was accepted")
	}
	if st, err := c.Echo(); err != nil || st != 0 {
		t.Fatalf("echo: status %04X, %v", st, err)
	}
	data := bytes.Repeat([]byte("abcdefgh"), 50000) // 400 kB: several PDUs, spilled to a file
	if st, _, err := c.Store(ctSOP, "1.2.3", data); err != nil || st != 0 {
		t.Fatalf("store: status %04X, %v", st, err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if got := h.stored["1.2.3"]; !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes, want the %d sent", len(got), len(data))
	}
}

func TestUnknownCallingAERejected(t *testing.T) {
	addr, _ := start(t, dimse.Options{})
	_, err := dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: "UNKNOWN", CalledAE: "IMGCLOUD", Contexts: proposal})
	var rj *dimse.RejectError
	if !errors.As(err, &rj) || rj.Result != 1 || rj.Source != 1 || rj.Reason != 3 {
		t.Fatalf("got %v, want A-ASSOCIATE-RJ permanent, service user, calling AE not recognised", err)
	}
}

// TestHugePDUAborted: a PDU declaring 4 GB is refused with A-ABORT before
// anything is allocated, before and after association.
func TestHugePDUAborted(t *testing.T) {
	addr, _ := start(t, dimse.Options{})
	for _, typ := range []byte{dimse.PDUAssociateRQ, dimse.PDUPData} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if typ == dimse.PDUPData {
			conn.Close()
			c := dial(t, addr, "QASCU")
			c.WriteRaw([]byte{typ, 0, 0xFF, 0xFF, 0xFF, 0xFF})
			expectAbort(t, c)
			c.Close()
			continue
		}
		conn.Write([]byte{typ, 0, 0xFF, 0xFF, 0xFF, 0xFF})
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 10)
		n, _ := io.ReadFull(conn, b)
		if n < 1 || b[0] != dimse.PDUAbort {
			t.Errorf("PDU type %d of 4 GB: got %x, want A-ABORT", typ, b[:n])
		}
		conn.Close()
	}
	// Memory stayed small: nothing close to 4 GB was allocated.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 1<<30 {
		t.Errorf("heap %d bytes after a 4 GB declaration", ms.HeapAlloc)
	}
}

// storeCommand is a C-STORE-RQ command set.
func storeCommand(sop string) dimse.Command { return dimse.StoreRQ(ctSOP, sop, 7) }

// TestFragmentsAtEveryBoundary splits the command set and the data set of
// a C-STORE at every byte boundary, in separate P-DATA-TF PDUs and in one.
func TestFragmentsAtEveryBoundary(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	c := dial(t, addr, "QASCU")
	defer c.Release()
	id, _, _ := c.Context(ctSOP)
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ")
	for k := 0; k <= len(data); k++ {
		sop := "1.2.3." + strconv.Itoa(k)
		cmd := dimse.EncodeCommand(storeCommand(sop))
		ck := k % (len(cmd) + 1)
		pdvs := []dimse.PDV{
			{Context: id, Command: true, Data: cmd[:ck]},
			{Context: id, Command: true, Last: true, Data: cmd[ck:]},
			{Context: id, Data: data[:k]},
			{Context: id, Last: true, Data: data[k:]},
		}
		if k%2 == 0 { // one PDV per PDU
			for _, p := range pdvs {
				if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(p)); err != nil {
					t.Fatal(err)
				}
			}
		} else if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(pdvs...)); err != nil {
			t.Fatal(err)
		}
		rsp, err := c.ReadCommand()
		if err != nil {
			t.Fatalf("split at %d: %v", k, err)
		}
		if st, _ := rsp.U16(dimse.TagStatus); st != 0 {
			t.Fatalf("split at %d: status %04X", k, st)
		}
		if got := h.stored[sop]; !bytes.Equal(got, data) {
			t.Fatalf("split at %d: stored %q", k, got)
		}
	}
}

func TestUnnegotiatedContextAborts(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	c := dial(t, addr, "QASCU")
	defer c.Close()
	cmd := dimse.EncodeCommand(storeCommand("1.2.3"))
	c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: 99, Command: true, Last: true, Data: cmd}))
	expectAbort(t, c)
	if h.storedCount() != 0 {
		t.Error("a message on an unnegotiated context was served")
	}
}

func TestMissingCommandFields(t *testing.T) {
	addr, _ := start(t, dimse.Options{})
	c := dial(t, addr, "QASCU")
	id, _, _ := c.Context(ctSOP)
	// Without AffectedSOPInstanceUID: a failure answer, the association goes on.
	cmd := storeCommand("1.2.3")
	delete(cmd, dimse.TagAffectedSOPInstance)
	if err := c.SendMessage(id, cmd, []byte("data")); err != nil {
		t.Fatal(err)
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := rsp.U16(dimse.TagStatus); st != 0xC000 || rsp.String(dimse.TagErrorComment) == "" {
		t.Errorf("status %04X comment %q, want C000 with a comment", st, rsp.String(dimse.TagErrorComment))
	}
	if st, err := c.Echo(); err != nil || st != 0 {
		t.Fatalf("echo after the failure: %04X %v", st, err)
	}
	// Without CommandField nothing can be answered: A-ABORT.
	cmd = storeCommand("1.2.4")
	delete(cmd, dimse.TagCommandField)
	c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(cmd)}))
	expectAbort(t, c)
	c.Close()
}

// TestAbortMidStore: an association aborted in the middle of a data set
// fails the data set the handler is reading (so nothing is stored) and
// answers nothing.
func TestAbortMidStore(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	c := dial(t, addr, "QASCU")
	id, _, _ := c.Context(ctSOP)
	c.WritePDU(dimse.PDUPData, dimse.EncodePData(
		dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(storeCommand("1.2.3"))},
		dimse.PDV{Context: id, Data: bytes.Repeat([]byte{1}, 1000)}))
	c.Abort()
	waitFor(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.closed) == 1
	})
	if h.storedCount() != 0 {
		t.Error("a data set cut by A-ABORT was stored")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.readErrs) != 1 {
		t.Errorf("the handler saw %d failed data sets, want 1", len(h.readErrs))
	}
	if len(h.closed) != 1 || h.closed[0] == nil {
		t.Errorf("association ended with %v, want the abort", h.closed)
	}
}

// TestIdleAssociationsBounded: 200 connections left idle before
// associating, and one AE holding idle associations, do not keep another
// AE from being served; the idle ones are closed by ARTIM and the idle
// timer.
func TestIdleAssociationsBounded(t *testing.T) {
	addr, h := start(t, dimse.Options{MaxAssociations: 8, MaxPerCaller: 2, ARTIM: time.Second, IdleTimeout: time.Second})
	var raw []net.Conn
	for range 200 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, conn)
	}
	defer func() {
		for _, c := range raw {
			c.Close()
		}
	}()
	idle := []*dimse.Client{dial(t, addr, "IDLE"), dial(t, addr, "IDLE")}
	_, err := dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: "IDLE", CalledAE: "IMGCLOUD", Contexts: proposal})
	var rj *dimse.RejectError
	if !errors.As(err, &rj) || rj.Result != 2 || rj.Source != 3 || rj.Reason != 2 {
		t.Errorf("third association of one AE: got %v, want A-ASSOCIATE-RJ transient, local limit exceeded", err)
	}
	other := dial(t, addr, "OTHER")
	if st, err := other.Echo(); err != nil || st != 0 {
		t.Fatalf("echo of another AE while 200 connections idle: %04X %v", st, err)
	}
	other.Release()
	for _, c := range idle {
		expectAbort(t, c) // idle timer
		c.Close()
	}
	for _, c := range raw[:5] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 10)); err == nil {
			// ARTIM: the server sends A-ABORT, then closes.
			if _, err := io.ReadAll(c); err != nil {
				t.Errorf("connection not closed after ARTIM: %v", err)
			}
		}
	}
	_ = h
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreStreamBroken: a data set that is cut short in any way while
// the handler reads it (a fragment of another context, a command
// fragment, an A-RELEASE-RQ, more bytes than allowed) aborts the
// association; the handler's read fails, so nothing is stored or answered.
func TestStoreStreamBroken(t *testing.T) {
	addr, h := start(t, dimse.Options{MaxDataSetBytes: 1000})
	for _, tc := range []struct {
		name string
		next func(c *dimse.Client, store, echo byte) error
	}{
		{"fragment on another context", func(c *dimse.Client, _, echo byte) error {
			return c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: echo, Last: true, Data: []byte("xx")}))
		}},
		{"command fragment", func(c *dimse.Client, store, _ byte) error {
			return c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: store, Command: true, Last: true, Data: []byte("xx")}))
		}},
		{"release", func(c *dimse.Client, _, _ byte) error { return c.WritePDU(0x05, make([]byte, 4)) }},
		{"too large", func(c *dimse.Client, store, _ byte) error {
			return c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: store, Last: true, Data: make([]byte, 1000)}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mu.Lock()
			errs := len(h.readErrs)
			h.mu.Unlock()
			c := dial(t, addr, "QASCU")
			defer c.Close()
			store, _, _ := c.Context(ctSOP)
			echo, _, _ := c.Context("1.2.840.10008.1.1")
			c.WritePDU(dimse.PDUPData, dimse.EncodePData(
				dimse.PDV{Context: store, Command: true, Last: true, Data: dimse.EncodeCommand(storeCommand("1.2.9"))},
				dimse.PDV{Context: store, Data: []byte("0123456789")}))
			if err := tc.next(c, store, echo); err != nil {
				t.Fatal(err)
			}
			expectAbort(t, c)
			waitFor(t, func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return len(h.readErrs) == errs+1
			})
			if h.storedCount() != 0 {
				t.Error("a broken data set was stored")
			}
		})
	}
}

// TestStoreUnreadDataSet: a handler that answers without reading the
// data set (a refusal) gets its answer sent once the data set has
// arrived, and the association goes on.
func TestStoreUnreadDataSet(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	h.refuse = 0x0124
	c := dial(t, addr, "QASCU")
	defer c.Release()
	data := bytes.Repeat([]byte("abcdefgh"), 100000) // several PDUs
	if st, _, err := c.Store(ctSOP, "1.2.3", data); err != nil || st != 0x0124 {
		t.Fatalf("store: status %04X, %v; want 0124", st, err)
	}
	if st, err := c.Echo(); err != nil || st != 0 {
		t.Fatalf("echo after the refusal: %04X %v", st, err)
	}
}

// TestStoreMemoryFlat: a 64 MiB data set read by the handler as it
// arrives costs the server a few small buffers, not the data set: the
// bytes allocated while it arrives stay far below its size (the server
// neither reassembles nor spools a C-STORE data set).
func TestStoreMemoryFlat(t *testing.T) {
	addr, h := start(t, dimse.Options{})
	h.discard, h.sizes = true, map[string]int64{}
	c := dial(t, addr, "QASCU")
	defer c.Release()
	id, _, _ := c.Context(ctSOP)
	const piece, pieces = 64 << 10, 1024
	pdu := []byte{dimse.PDUPData, 0, 0, 0, 0, 0}
	pdu = append(pdu, dimse.EncodePData(dimse.PDV{Context: id, Data: make([]byte, piece)})...)
	binary.BigEndian.PutUint32(pdu[2:], uint32(len(pdu)-6))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(storeCommand("1.2.64"))})); err != nil {
		t.Fatal(err)
	}
	for range pieces {
		if err := c.WriteRaw(pdu); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: id, Last: true})); err != nil {
		t.Fatal(err)
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if st, _ := rsp.U16(dimse.TagStatus); st != 0 {
		t.Fatalf("status %04X", st)
	}
	h.mu.Lock()
	got := h.sizes["1.2.64"]
	h.mu.Unlock()
	if got != piece*pieces {
		t.Fatalf("handler read %d bytes, want %d", got, piece*pieces)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes allocated while %d arrived", alloc, piece*pieces)
	if alloc > 4<<20 {
		t.Errorf("%d bytes allocated while a %d-byte data set arrived, want under 4 MiB", alloc, piece*pieces)
	}
}
