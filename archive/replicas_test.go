package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
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

// TestSameUIDDifferentBytesAcrossReplicas: two gateways on one PostgreSQL
// index and one folder store, each sent a different instance under the
// same SOP Instance UID at once: one is stored, the other refused as a
// conflict, and the object under the UID is the bytes of the one stored
// (the loser never writes over it).
func TestSameUIDDifferentBytesAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 1, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 9,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	srv := pgtest.Start(t)
	url := srv.Database(t)
	dir := t.TempDir()
	var svcs []*archive.Service
	var store *file.Store
	for range 2 {
		db, err := postgres.Open(ctx, postgres.Options{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if store, err = file.Open(filepath.Join(dir, "objects")); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}}))
	}
	for _, f := range man.Files {
		orig, err := os.ReadFile(man.Abs(f))
		if err != nil {
			t.Fatal(err)
		}
		other := bytes.Clone(orig)
		other[len(other)-1] ^= 0xFF // a pixel: the same UIDs, other bytes
		bodies := [][]byte{orig, other}
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i, svc := range svcs {
			wg.Go(func() {
				st, err := svc.Store(ctx, bytes.NewReader(bodies[i]), "")
				if err == nil && st.Duplicate {
					err = errors.New("answered as a duplicate")
				}
				if err == nil && svc.Commit(ctx, []*archive.Stored{st}) != nil {
					err = errors.New("commit failed")
				}
				results[i] = err
			})
		}
		wg.Wait()
		won := -1
		for i, err := range results {
			switch {
			case err == nil:
				won = i
			case !errors.Is(err, archive.ErrConflict):
				t.Fatalf("%s: store %d: %v, want success or ErrConflict", f.SOPUID, i, err)
			}
		}
		if won < 0 || results[1-won] == nil {
			t.Fatalf("%s: results %v, want one stored and one conflict", f.SOPUID, results)
		}
		rc, err := store.Get(ctx, storage.InstanceKey(f.StudyUID, f.SeriesUID, f.SOPUID), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, bodies[won]) {
			t.Fatalf("%s: the object is not the bytes of the store that won (the loser wrote over it)", f.SOPUID)
		}
	}
}

// syncLog is a folder store that records, in one log with the index
// below, when objects are written and when they are synced.
type syncLog struct {
	*file.Store
	mu     *sync.Mutex
	events *[]string
}

func (s syncLog) add(e string) { s.mu.Lock(); *s.events = append(*s.events, e); s.mu.Unlock() }

func (s syncLog) MoveIn(ctx context.Context, key string, f *os.File, size int64) error {
	s.add("object")
	return s.Store.MoveIn(ctx, key, f, size)
}

func (s syncLog) WriteIn(ctx context.Context, key string, data []byte) error {
	s.add("object")
	return s.Store.WriteIn(ctx, key, data)
}

func (s syncLog) Sync(ctx context.Context) error { s.add("sync"); return s.Store.Sync(ctx) }

// rowLog records the index rows in the same log; it keeps the index's
// leases when it has them (embedding the Leaser too).
type rowLog struct {
	index.Store
	log syncLog
}

func (r rowLog) PutInstance(ni index.NewInstance) error {
	r.log.add("row")
	return r.Store.PutInstance(ni)
}

type leasedRowLog struct {
	rowLog
	index.Leaser
}

// TestSharedIndexSyncsObjectBeforeRow: on an index several gateways share
// (PostgreSQL), an object of the folder store is synced before its row is
// written, since another replica's commit may move the one checkpoint
// past the row before this gateway syncs; alone on Badger the object
// waits for the commit, which syncs many at once.
func TestSharedIndexSyncsObjectBeforeRow(t *testing.T) {
	ctx := context.Background()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	srv := pgtest.Start(t)
	pg, err := postgres.Open(ctx, postgres.Options{URL: srv.Database(t), MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	dir := t.TempDir()
	_, fstore, badgerDB := newArchive(t, dir, dir)
	for _, c := range []struct {
		name string
		db   func(syncLog) index.Store
		want []string
	}{
		{"PostgreSQL, shared", func(l syncLog) index.Store { return leasedRowLog{rowLog{pg, l}, pg} }, []string{"object", "sync", "row"}},
		{"Badger, alone", func(l syncLog) index.Store { return rowLog{badgerDB, l} }, []string{"object", "row"}},
	} {
		var events []string
		l := syncLog{fstore, &sync.Mutex{}, &events}
		svc := archive.New(l, c.db(l), archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
		if _, err := svc.Store(ctx, mustOpen(t, man.Abs(man.Files[0])), ""); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(events, c.want) {
			t.Errorf("%s: %v, want %v", c.name, events, c.want)
		}
		// Both: the commit makes the whole instance durable.
		if err := svc.Sync(ctx); err != nil {
			t.Fatalf("%s: sync: %v", c.name, err)
		}
		if n := len(events); events[n-1] != "sync" {
			t.Errorf("%s: the commit did not sync the store: %v", c.name, events)
		}
		if _, err := pg.InstanceBySOP(man.Files[0].SOPUID); c.name == "PostgreSQL, shared" && err != nil {
			t.Errorf("%s: the row is not in PostgreSQL: %v", c.name, err)
		}
	}
}
