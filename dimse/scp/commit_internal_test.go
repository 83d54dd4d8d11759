package scp

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// countingArchive is a real archive that counts its commits and the
// instances each covered.
type countingArchive struct {
	*archive.Service
	mu      sync.Mutex
	batches []int
}

func (a *countingArchive) Commit(ctx context.Context, st []*archive.Stored) error {
	a.mu.Lock()
	a.batches = append(a.batches, len(st))
	a.mu.Unlock()
	return a.Service.Commit(ctx, st)
}

// TestGroupCommitWaitsForStorers: instances stored by four associations
// at about the same time are made durable by one commit, not one each;
// a lone association does not wait.
func TestGroupCommitWaitsForStorers(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	a := &countingArchive{Service: archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})}
	g := newGroupCommit(a)
	g.linger = 5 * time.Second // generous: the batch must fill well before
	ctx := context.Background()
	storeOne := func(i int) *archive.Stored {
		sop := fmt.Sprintf("1.2.826.0.1.10.%d", i)
		data := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal("1.2.826.0.1.10", "1.2.826.0.1.10.0", sop))
		st, err := a.Store(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for range 4 {
		g.join()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 4 {
		st := storeOne(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.commit(ctx, st); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(20 * time.Millisecond) // each arrives while the first waits
	}
	wg.Wait()
	if len(a.batches) != 1 || a.batches[0] != 4 || time.Since(start) > 4*time.Second {
		t.Errorf("batches %v in %s, want one of 4 without waiting for the linger", a.batches, time.Since(start))
	}
	for range 3 {
		g.leave()
	}
	start = time.Now()
	if err := g.commit(ctx, storeOne(9)); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("a lone association waited %s", time.Since(start))
	}
}
