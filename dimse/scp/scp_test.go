package scp_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

const sc = "1.2.840.10008.5.1.4.1.1.7" // Secondary Capture Image Storage

// TestService runs the service on a real archive and audit trail: who may
// associate and store, statuses and their comments, and one audit event
// per association and operation.
func TestService(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	aes, err := access.NewAEs([]access.AE{
		{AET: "PACS", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}},
		{AET: "VIEWER", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpQuery}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(),
		Server: dimse.Options{SpoolDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, s)
	dial := func(aet string) (*dimse.Client, error) {
		return dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: aet, CalledAE: "ANY",
			Contexts: []dimse.PresentationContext{
				{AbstractSyntax: scp.Verification, TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
				{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}},
			}})
	}

	var rj *dimse.RejectError
	if _, err := dial("NOBODY"); !errors.As(err, &rj) || rj.Reason != 3 {
		t.Fatalf("unknown AE: %v", err)
	}
	c, err := dial("PACS")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Echo(); st != 0 || err != nil {
		t.Fatalf("echo: %04X %v", st, err)
	}
	good := gwtest.Minimal("1.2.826.0.1.7.1", "1.2.826.0.1.7.2", "1.2.826.0.1.7.3")
	for i := range 2 { // the second time a duplicate: success again
		if st, cm, err := c.Store(sc, "1.2.826.0.1.7.3", good); st != 0 || err != nil {
			t.Fatalf("store %d: %04X %q %v", i, st, cm, err)
		}
	}
	if st, cm, _ := c.Store(sc, "1.2.826.0.1.7.4", []byte("not a data set")); st != 0xC000 || cm == "" {
		t.Errorf("garbage: %04X %q, want C000 with a comment", st, cm)
	}
	other := gwtest.Minimal("1.2.826.0.1.7.1", "1.2.826.0.1.7.2", "1.2.826.0.1.7.3")
	other = append(other, gwtest.Elem(0x0020, 0x0013, "IS", []byte("2 "))...)
	if st, cm, _ := c.Store(sc, "1.2.826.0.1.7.3", other); st != 0x0111 || cm == "" {
		t.Errorf("same SOP instance, other content: %04X %q, want 0111", st, cm)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InstanceBySOP("1.2.826.0.1.7.3"); err != nil {
		t.Errorf("stored instance not in the index: %v", err)
	}

	v, err := dial("VIEWER")
	if err != nil {
		t.Fatal(err)
	}
	if st, cm, _ := v.Store(sc, "1.2.826.0.1.7.9", gwtest.Minimal("1.2.826.0.1.7.7", "1.2.826.0.1.7.8", "1.2.826.0.1.7.9")); st != 0x0124 || cm == "" {
		t.Errorf("store by a query-only AE: %04X %q, want 0124", st, cm)
	}
	v.Release()

	time.Sleep(100 * time.Millisecond) // Closed runs after the release answer
	if err := al.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	al.Query(audit.Filter{}, func(e audit.Event) error {
		got[e.Action+" "+e.Actor+" "+strconv.Itoa(e.Outcome)]++
		if e.RequestID == "" {
			t.Errorf("event %s without the association id", e.Action)
		}
		return nil
	})
	for k, n := range map[string]int{
		"DIMSE A-ASSOCIATE ae:NOBODY 403": 1,
		"DIMSE A-ASSOCIATE ae:PACS 200":   1,
		"DIMSE C-ECHO ae:PACS 200":        1,
		"DIMSE C-STORE ae:PACS 200":       2,
		"DIMSE C-STORE ae:PACS 400":       1,
		"DIMSE C-STORE ae:PACS 409":       1,
		"DIMSE A-RELEASE ae:PACS 200":     1,
		"DIMSE C-STORE ae:VIEWER 403":     1,
		"DIMSE A-RELEASE ae:VIEWER 200":   1,
	} {
		if got[k] != n {
			t.Errorf("audit: %d events %q, want %d (all: %v)", got[k], k, n, got)
		}
	}
}
