package archive_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/corpus"
)

// TestDurable: an instance stored but not yet committed is committed
// before Durable vouches for it (the checkpoint moves past its row); an
// object removed under its row is ErrNotDurable; an unknown instance is
// ErrNotFound.
func TestDurable(t *testing.T) {
	ctx := context.Background()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 2, Seed: 5,
		Today: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc, store, db := newArchive(t, dir, dir)
	var stored []*archive.Stored
	for _, f := range man.Files {
		fh, _ := os.Open(man.Abs(f))
		st, err := svc.Store(ctx, fh, "")
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, st)
	}
	in, err := db.InstanceBySOP(man.Files[0].SOPUID)
	if err != nil {
		t.Fatal(err)
	}
	if cp, _ := db.Checkpoint(); cp >= in.Seq {
		t.Fatalf("checkpoint %d already covers the uncommitted row %d", cp, in.Seq)
	}
	if _, err := svc.Durable(ctx, man.Files[0].SOPUID); err != nil {
		t.Fatalf("durable: %v", err)
	}
	if cp, _ := db.Checkpoint(); cp < in.Seq {
		t.Errorf("checkpoint %d after Durable, want at least row %d", cp, in.Seq)
	}
	gone, _ := db.InstanceBySOP(man.Files[1].SOPUID)
	if err := store.Delete(ctx, gone.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Durable(ctx, man.Files[1].SOPUID); !errors.Is(err, archive.ErrNotDurable) {
		t.Errorf("object removed: %v, want ErrNotDurable", err)
	}
	if _, err := svc.Durable(ctx, "1.2.3.4.404"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("unknown instance: %v, want ErrNotFound", err)
	}
}
