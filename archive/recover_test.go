package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/corpus"
)

// TestRecoverDropsRowsWithoutObjects: rows written after the last
// checkpoint whose objects did not reach the disk (as after a machine
// crash) are dropped at start; committed rows are kept.
func TestRecoverDropsRowsWithoutObjects(t *testing.T) {
	ctx := context.Background()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 2, SeriesPerStudy: 1, InstancesPerSeries: 2, Seed: 5,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc, _, db := newArchive(t, dir, dir)
	put := func(f corpus.File) *archive.Stored {
		fh, _ := os.Open(man.Abs(f))
		defer fh.Close()
		st, err := svc.Store(ctx, fh, "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	committed := put(man.Files[0])
	if err := svc.Commit(ctx, []*archive.Stored{committed}); err != nil {
		t.Fatal(err)
	}
	// Two more rows, never committed; one object "lost" to a crash.
	put(man.Files[1])
	lost := man.Files[2]
	put(lost)
	os.Remove(filepath.Join(dir, "objects", "studies", lost.StudyUID, "series", lost.SeriesUID, "instances", lost.SOPUID+".dcm"))

	checked, dropped, err := svc.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if checked != 2 || dropped != 1 {
		t.Fatalf("recover checked %d and dropped %d rows, want 2 and 1", checked, dropped)
	}
	if _, err := db.InstanceBySOP(lost.SOPUID); err == nil {
		t.Fatal("the row of the lost object is still indexed")
	}
	for _, f := range man.Files[:2] {
		if _, err := db.InstanceBySOP(f.SOPUID); err != nil {
			t.Fatalf("row of %s dropped: %v", f.SOPUID, err)
		}
	}
	// Nothing left to check after the recovery's own commit.
	if checked, _, _ := svc.Recover(ctx); checked != 0 {
		t.Fatalf("second recovery checked %d rows", checked)
	}
}
