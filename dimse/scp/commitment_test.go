package scp_test

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// holdingFacts places each study at the institution its index row holds.
type holdingFacts struct{}

func (holdingFacts) StudyInstitution(_ context.Context, st *index.Study) string { return st.Holding }
func (holdingFacts) StudyPerson(context.Context, *index.Study) string           { return "" }
func (holdingFacts) StudyLink(context.Context, *index.Study) (string, time.Time) {
	return "", time.Time{}
}
func (holdingFacts) StudyItems(context.Context, *index.Study) []string { return nil }
func (holdingFacts) Regions(string) []string                           { return nil }

// receiver is a PACS's storage commitment listener: it keeps the reports
// it is sent and the role selection each association proposed.
type receiver struct {
	mu      sync.Mutex
	reports []*dimse.EventRequest
	roles   [][]dimse.RoleSelection
	got     chan struct{}
}

func (r *receiver) Associate(ctx context.Context, a *dimse.Association) (context.Context, error) {
	r.mu.Lock()
	r.roles = append(r.roles, a.RQ.Roles)
	r.mu.Unlock()
	return ctx, nil
}
func (r *receiver) Echo(context.Context, *dimse.Association) uint16 { return 0 }
func (r *receiver) Store(context.Context, *dimse.Association, *dimse.StoreRequest) (uint16, string) {
	return 0x0211, ""
}
func (r *receiver) Find(context.Context, *dimse.Association, *dimse.FindRequest, func([]byte) error) (uint16, string) {
	return 0x0211, ""
}
func (r *receiver) Closed(context.Context, *dimse.Association, error) {}
func (r *receiver) EventReport(_ context.Context, _ *dimse.Association, rq *dimse.EventRequest) uint16 {
	r.mu.Lock()
	r.reports = append(r.reports, rq)
	r.mu.Unlock()
	r.got <- struct{}{}
	return 0
}

// commitRequest encodes the action information of a commitment request
// (explicit VR little endian), the sequence of undefined length as many
// PACS send it.
func commitRequest(txn string, refs ...[2]string) []byte {
	var items []byte
	for _, r := range refs {
		it := append(gwtest.Elem(0x0008, 0x1150, "UI", gwtest.Str(r[0], 0)), gwtest.Elem(0x0008, 0x1155, "UI", gwtest.Str(r[1], 0))...)
		items = binary.LittleEndian.AppendUint32(append(items, 0xFE, 0xFF, 0x00, 0xE0), uint32(len(it)))
		items = append(items, it...)
	}
	b := gwtest.Elem(0x0008, 0x1195, "UI", gwtest.Str(txn, 0))
	b = append(b, 0x08, 0x00, 0x99, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
	b = append(b, items...)
	return append(b, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
}

// resultItems decodes a report's sequences: SOP Instance UID -> failure
// reason (0 for the Referenced SOP Sequence), with a small reader of its
// own (explicit VR little endian, defined lengths as the gateway writes).
func resultItems(t *testing.T, b []byte) (txn string, got map[string]uint16) {
	t.Helper()
	got = map[string]uint16{}
	elems := func(b []byte, fn func(group, elem uint16, v []byte)) {
		for len(b) >= 8 {
			g, e, vr := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), string(b[4:6])
			hdr, n := 8, int(binary.LittleEndian.Uint16(b[6:]))
			if vr == "SQ" {
				hdr, n = 12, int(binary.LittleEndian.Uint32(b[8:]))
			}
			fn(g, e, b[hdr:hdr+n])
			b = b[hdr+n:]
		}
	}
	elems(b, func(g, e uint16, v []byte) {
		switch {
		case g == 8 && e == 0x1195:
			txn = string(v)
		case g == 8 && (e == 0x1198 || e == 0x1199):
			for len(v) >= 8 {
				n := int(binary.LittleEndian.Uint32(v[4:]))
				var sop string
				var reason uint16
				elems(v[8:8+n], func(_, e uint16, x []byte) {
					switch e {
					case 0x1155:
						sop = string(x)
					case 0x1197:
						reason = binary.LittleEndian.Uint16(x)
					}
				})
				if sop[len(sop)-1] == 0 {
					sop = sop[:len(sop)-1]
				}
				got[sop] = reason
				v = v[8+n:]
			}
		}
	})
	if len(txn) > 0 && txn[len(txn)-1] == 0 {
		txn = txn[:len(txn)-1]
	}
	return txn, got
}

// TestStorageCommitment drives Storage Commitment Push Model with the
// project's own SCU (dimse.Client): DCMTK 3.6.7 ships no storage
// commitment SCU. Instances are stored over C-STORE into a real archive
// with the real visibility rule; the test then asks for commitment of
// instances that are durable, of another institution, unknown, of the
// wrong class, and whose object was removed from storage, and reads the
// reports on the same association and on a new one to the AE's listener.
func TestStorageCommitment(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: access.NewVisibility(holdingFacts{}, nil)})

	// The PACS's own listener for reports sent over a new association.
	rcv := &receiver{got: make(chan struct{}, 4)}
	rsrv, err := dimse.New(dimse.Options{Handler: rcv, Syntaxes: func(as string) []string {
		if as == scp.StorageCommitment {
			return []string{"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go rsrv.Serve(context.Background(), rln)
	t.Cleanup(func() { rsrv.Close(context.Background()); rln.Close() })

	aes, err := access.NewAEs([]access.AE{
		{AET: "PACS", Host: "127.0.0.1", Port: rln.Addr().(*net.TCPAddr).Port, Institution: "h1", Allow: []access.Operation{access.OpStore}},
		{AET: "PACS2", Host: "127.0.0.1", Institution: "h2", Allow: []access.Operation{access.OpStore}},
		{AET: "VIEWER", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpQuery}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(),
		Server: dimse.Options{SpoolDir: dir}, ReportRetryDelays: []time.Duration{50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, s)
	dial := func(aet string) *dimse.Client {
		t.Helper()
		c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: aet, CalledAE: "IMGCLOUD",
			Contexts: []dimse.PresentationContext{
				{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}},
				{AbstractSyntax: scp.StorageCommitment, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	storeOne := func(c *dimse.Client, study, sop string) {
		t.Helper()
		if st, cm, err := c.Store(sc, sop, gwtest.Minimal(study, study+".1", sop)); st != 0 || err != nil {
			t.Fatalf("store %s: %04X %q %v", sop, st, cm, err)
		}
	}
	const (
		s1, s2                = "1.2.826.0.1.8.1", "1.2.826.0.1.8.2"
		ok1, ok2, gone, other = "1.2.826.0.1.8.1.1.1", "1.2.826.0.1.8.1.1.2", "1.2.826.0.1.8.1.1.3", "1.2.826.0.1.8.2.1.1"
	)
	p := dial("PACS")
	storeOne(p, s1, ok1)
	storeOne(p, s1, ok2)
	storeOne(p, s1, gone)
	p2 := dial("PACS2")
	storeOne(p2, s2, other)
	p2.Release()
	// The recognition service records who holds a study after ingest.
	if err := db.SetHolding(s1, "h1"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHolding(s2, "h2"); err != nil {
		t.Fatal(err)
	}
	in, err := db.InstanceBySOP(gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(context.Background(), in.Key); err != nil {
		t.Fatal(err)
	}

	t.Run("same association", func(t *testing.T) {
		req := commitRequest("1.2.826.0.1.8.99.1",
			[2]string{sc, ok1}, [2]string{sc, other}, [2]string{sc, "1.2.826.0.1.8.404"},
			[2]string{"1.2.840.10008.5.1.4.1.1.2", ok2}, [2]string{sc, gone})
		if st, cm, err := p.Action(scp.StorageCommitment, scp.StorageCommitmentInstance, 1, req); st != 0 || err != nil {
			t.Fatalf("N-ACTION: %04X %q %v", st, cm, err)
		}
		cmd, data, err := p.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := cmd.U16(dimse.TagCommandField); f != dimse.NEventReportRQ {
			t.Fatalf("command %04X after N-ACTION-RSP, want N-EVENT-REPORT-RQ", f)
		}
		if ev, _ := cmd.U16(dimse.TagEventTypeID); ev != 2 {
			t.Errorf("event type %d, want 2 (some failures)", ev)
		}
		txn, got := resultItems(t, data)
		want := map[string]uint16{ok1: 0, other: 0x0112, "1.2.826.0.1.8.404": 0x0112, ok2: 0x0119, gone: 0x0110}
		if txn != "1.2.826.0.1.8.99.1" || len(got) != len(want) {
			t.Errorf("transaction %q, items %v; want %v", txn, got, want)
		}
		for sop, r := range want {
			if got[sop] != r {
				t.Errorf("%s: reason %04X, want %04X", sop, got[sop], r)
			}
		}
		rsp := dimse.Response(cmd, 0, "")
		rsp.SetU16(dimse.TagEventTypeID, 2)
		if err := p.Respond(scp.StorageCommitment, rsp); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("new association after release", func(t *testing.T) {
		if st, cm, err := p.Action(scp.StorageCommitment, scp.StorageCommitmentInstance, 1,
			commitRequest("1.2.826.0.1.8.99.2", [2]string{sc, ok1}, [2]string{sc, ok2})); st != 0 || err != nil {
			t.Fatalf("N-ACTION: %04X %q %v", st, cm, err)
		}
		// Release without answering the report: it must come to the
		// PACS's listener instead.
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rcv.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no report over a new association")
		}
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		r := rcv.reports[0]
		if r.EventType != 1 || r.SOPInstance != scp.StorageCommitmentInstance {
			t.Errorf("report: event type %d, instance %s; want 1, %s", r.EventType, r.SOPInstance, scp.StorageCommitmentInstance)
		}
		implicit := r.TransferSyntax == "1.2.840.10008.1.2"
		if implicit {
			t.Fatalf("the gateway proposed explicit VR first; got %s", r.TransferSyntax)
		}
		txn, got := resultItems(t, r.Data)
		if txn != "1.2.826.0.1.8.99.2" || len(got) != 2 || got[ok1] != 0 || got[ok2] != 0 {
			t.Errorf("report: transaction %q items %v", txn, got)
		}
		want := dimse.RoleSelection{SOPClass: scp.StorageCommitment, SCU: false, SCP: true}
		if !slices.Contains(rcv.roles[0], want) {
			t.Errorf("roles proposed %v, want %v", rcv.roles[0], want)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		v := dial("VIEWER")
		defer v.Release()
		if st, cm, _ := v.Action(scp.StorageCommitment, scp.StorageCommitmentInstance, 1, commitRequest("1.2.3", [2]string{sc, ok1})); st != 0x0124 || cm == "" {
			t.Errorf("query-only AE: %04X %q, want 0124", st, cm)
		}
		c := dial("PACS")
		defer c.Release()
		for name, tc := range map[string]struct {
			inst string
			typ  uint16
			data []byte
			want uint16
		}{
			"no transaction":   {scp.StorageCommitmentInstance, 1, commitRequest("", [2]string{sc, ok1}), 0x0120},
			"no references":    {scp.StorageCommitmentInstance, 1, commitRequest("1.2.3"), 0x0120},
			"wrong action":     {scp.StorageCommitmentInstance, 2, commitRequest("1.2.3", [2]string{sc, ok1}), 0x0123},
			"wrong instance":   {"1.2.3.4", 1, commitRequest("1.2.3", [2]string{sc, ok1}), 0x0117},
			"truncated":        {scp.StorageCommitmentInstance, 1, commitRequest("1.2.3", [2]string{sc, ok1})[:30], 0x0106},
			"no data set sent": {scp.StorageCommitmentInstance, 1, nil, 0x0120},
		} {
			if st, cm, err := c.Action(scp.StorageCommitment, tc.inst, tc.typ, tc.data); st != tc.want || cm == "" || err != nil {
				t.Errorf("%s: %04X %q %v, want %04X with a comment", name, st, cm, err, tc.want)
			}
		}
		if st, _, err := c.Store(sc, "1.2.826.0.1.8.1.1.9", gwtest.Minimal(s1, s1+".1", "1.2.826.0.1.8.1.1.9")); st != 0 || err != nil {
			t.Errorf("the association serves on after refusals: %04X %v", st, err)
		}
	})

	time.Sleep(100 * time.Millisecond)
	if err := al.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	al.Query(audit.Filter{}, func(e audit.Event) error {
		got[e.Action+" "+e.Actor+" "+strconv.Itoa(e.Outcome)]++
		return nil
	})
	for k, n := range map[string]int{
		"DIMSE N-ACTION ae:PACS 200":       2,
		"DIMSE N-EVENT-REPORT ae:PACS 200": 1,
		"DIMSE N-ACTION ae:VIEWER 403":     1,
	} {
		if got[k] != n {
			t.Errorf("audit: %d events %q, want %d (all: %v)", got[k], k, n, got)
		}
	}
}
