package archive_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
)

// racingIndex misses every row at the check before a store, as a
// replica's check does when another replica on the same index (on
// PostgreSQL) indexes the same instance between that check and its own
// PutInstance.
type racingIndex struct{ index.Store }

func (racingIndex) InstanceBySOP(string) (*index.Instance, error) { return nil, index.ErrNotFound }

// TestStoreIndexedByAnotherReplica: an instance another gateway indexed
// in that window is a duplicate when the bytes are the same (200, the
// object kept), a conflict otherwise.
func TestStoreIndexedByAnotherReplica(t *testing.T) {
	ctx := context.Background()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 5,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first, store, db := newArchive(t, dir, dir)
	second := archive.New(store, racingIndex{db}, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	f := man.Files[0]
	stow := func(svc *archive.Service) (*archive.Stored, error) {
		fh, err := os.Open(man.Abs(f))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		return svc.Store(ctx, fh, "")
	}
	if _, err := stow(first); err != nil {
		t.Fatal(err)
	}
	st, err := stow(second)
	if err != nil || !st.Duplicate {
		t.Fatalf("the same bytes indexed by another replica: %+v, %v; want a duplicate", st, err)
	}
	in, err := db.InstanceBySOP(f.SOPUID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, in.Key); err != nil {
		t.Fatalf("the object of the instance is gone after the duplicate: %v", err)
	}
	// Other content under the same SOP Instance UID: a conflict.
	prev := *in
	prev.CRC32C, prev.Size = "00000000", prev.Size+1
	third := archive.New(store, racingIndex{conflictIndex{db, &prev}}, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	if _, err := third.Store(ctx, mustOpen(t, man.Abs(f)), ""); !errors.Is(err, archive.ErrConflict) {
		t.Fatalf("different content indexed by another replica: %v, want ErrConflict", err)
	}
}

// conflictIndex answers every PutInstance with an ExistsError carrying
// row, another replica's different instance under the same UID.
type conflictIndex struct {
	index.Store
	row *index.Instance
}

func (c conflictIndex) PutInstance(index.NewInstance) error {
	return &index.ExistsError{Existing: c.row}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}
