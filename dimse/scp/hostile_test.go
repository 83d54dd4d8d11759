package scp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestStoreCommandDisagreesWithDataSet: a C-STORE-RQ whose Affected SOP
// Instance or Class UID is not the data set's is refused with A900 (PS3.4
// B.2.3; DCMTK's storescp answers the same) and stored under neither UID,
// on an association that goes on.
func TestStoreCommandDisagreesWithDataSet(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	aes, err := access.NewAEs([]access.AE{{AET: "PACS", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(),
		Server: dimse.Options{SpoolDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, s)
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: "PACS", CalledAE: "ANY",
		Contexts: []dimse.PresentationContext{
			{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}},
			{AbstractSyntax: ct, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	ds := gwtest.Minimal("1.2.826.0.1.9.1", "1.2.826.0.1.9.2", "1.2.826.0.1.9.3") // Secondary Capture
	for _, tc := range []struct{ name, class, sop, says string }{
		{"other SOP instance", sc, "1.2.826.0.1.9.4", "SOPInstanceUID is 1.2.826.0.1.9.3"},
		{"other SOP class", ct, "1.2.826.0.1.9.3", "SOPClassUID is " + sc},
	} {
		st, cm, err := c.Store(tc.class, tc.sop, ds)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if st != 0xA900 || !strings.Contains(cm, tc.says) {
			t.Errorf("%s: %04X %q, want A900 naming the UIDs", tc.name, st, cm)
		}
	}
	for _, sop := range []string{"1.2.826.0.1.9.3", "1.2.826.0.1.9.4"} {
		if _, err := db.InstanceBySOP(sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s in the index after a refused store: %v", sop, err)
		}
	}
	if st, cm, err := c.Store(sc, "1.2.826.0.1.9.3", ds); st != 0 || err != nil {
		t.Fatalf("the same data set with its own UIDs afterwards: %04X %q %v", st, cm, err)
	}
}
