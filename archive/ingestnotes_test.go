package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestIngestBlockBesideSendersBlock: a file that already uses private
// block (0013,0010) keeps it; the ingest block takes the next free one and
// counts the DS value the metadata could not hold as sent. The stored
// object is the file as sent.
func TestIngestBlockBesideSendersBlock(t *testing.T) {
	const study, series, sop = "1.2.3.16.1", "1.2.3.16.1.1", "1.2.3.16.1.1.1"
	ds := gwtest.Minimal(study, series, sop)
	ds = append(ds, gwtest.Elem(0x0013, 0x0010, "LO", gwtest.Str("ACME", ' '))...)
	ds = append(ds, gwtest.Elem(0x0013, 0x1001, "LO", gwtest.Str("vendor", ' '))...)
	ds = append(ds, gwtest.Elem(0x0018, 0x0050, "DS", gwtest.Str("1,5", ' '))...)
	file := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, ds)
	svc, _, _ := newArchive(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	st, err := svc.Store(ctx, bytes.NewReader(file), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Commit(ctx, []*archive.Stored{st}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := svc.WriteMetadata(ctx, &buf, study, series, sop, "http://x"); err != nil {
		t.Fatal(err)
	}
	var got []dcm.Dataset
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("metadata %s: %v", buf.Bytes(), err)
	}
	md := got[0]
	for tag, want := range map[string]string{
		"00130010": "ACME", "00131001": "vendor", // the sender's block
		"00130011": archive.IngestCreator, "00131103": "1",
		"00180050": "1.5",
	} {
		if v := md.String(tag); v != want {
			t.Errorf("%s = %q, want %q", tag, v, want)
		}
	}
	in, err := svc.InstanceBySOP(ctx, sop)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := svc.Open(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var stored bytes.Buffer
	if _, err := stored.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.Bytes(), file) {
		t.Error("the stored object is not the file as sent")
	}
}
