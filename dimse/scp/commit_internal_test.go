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

// countingArchive is a real archive that counts its syncs.
type countingArchive struct {
	*archive.Service
	mu    sync.Mutex
	syncs int
}

func (a *countingArchive) Sync(ctx context.Context) error {
	a.mu.Lock()
	a.syncs++
	a.mu.Unlock()
	return a.Service.Sync(ctx)
}

// TestGroupCommitWaitsForStorers: once four associations store at about
// the same time, one commit covers an instance of each, not one commit
// each; an association that stopped storing is not waited for.
func TestGroupCommitWaitsForStorers(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	a := &countingArchive{Service: archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})}
	g := newGroupCommit(a)
	g.linger = time.Second // generous: the batch must fill well before
	ctx := context.Background()
	n := 0
	storeOne := func() *archive.Stored {
		n++
		sop := fmt.Sprintf("1.2.826.0.1.10.%d", n)
		data := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal("1.2.826.0.1.10", "1.2.826.0.1.10.0", sop))
		st, err := a.Store(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// round has associations who commit one instance each, 20 ms apart.
	round := func(who ...string) int {
		a.mu.Lock()
		a.syncs = 0
		a.mu.Unlock()
		var wg sync.WaitGroup
		for _, w := range who {
			st := storeOne()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := g.commit(ctx, w, st); err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.syncs
	}
	round("A", "B", "C", "D") // the first round has no history: eager
	start := time.Now()
	if got := round("A", "B", "C", "D"); got != 1 || time.Since(start) > 900*time.Millisecond {
		t.Errorf("%d syncs in %s, want one for the four without waiting for the linger", got, time.Since(start))
	}
	// A alone from now on: B, C and D drop out after two batches.
	round("A")
	round("A")
	start = time.Now()
	if got := round("A"); got != 1 || time.Since(start) > 900*time.Millisecond {
		t.Errorf("a lone association: %d syncs in %s", got, time.Since(start))
	}
	g.leave("A")
	if len(g.recent) != 3 {
		t.Errorf("recent %v after A left", g.recent)
	}

	// An instance still arriving (begun, not yet stored) is waited for
	// past the linger; one given up ends the wait at once.
	g = newGroupCommit(a)
	g.linger, g.inflightWait = time.Millisecond, time.Second
	inflight := func(last func(), who string) (int, time.Duration) {
		a.mu.Lock()
		a.syncs = 0
		a.mu.Unlock()
		g.begin(who)
		start := time.Now()
		st := storeOne()
		done := make(chan error)
		go func() { done <- g.commit(ctx, "A", st) }()
		time.Sleep(50 * time.Millisecond)
		last()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.syncs, time.Since(start)
	}
	if got, el := inflight(func() {
		if err := g.commit(ctx, "B", storeOne()); err != nil {
			t.Error(err)
		}
	}, "B"); got != 1 || el > 900*time.Millisecond {
		t.Errorf("an instance in flight: %d syncs in %s, want one for both, before the wait's bound", got, el)
	}
	if got, el := inflight(func() { g.abandon("C") }, "C"); got != 1 || el > 900*time.Millisecond {
		t.Errorf("an instance given up: %d syncs in %s, want the commit at once", got, el)
	}

	// An instance that stays in flight (a peer sending slowly) is waited
	// for by one commit, not by each: three commits of A take one wait.
	g = newGroupCommit(a)
	g.linger, g.inflightWait = time.Millisecond, time.Second
	g.begin("SLOW")
	start = time.Now()
	for range 3 {
		if err := g.commit(ctx, "A", storeOne()); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 1900*time.Millisecond {
		t.Errorf("three commits beside a stalled instance took %s, want one wait of 1 s", el)
	}
	// Its next instance is waited for again.
	g.abandon("SLOW")
	g.begin("SLOW")
	if g.unwaited() != 1 {
		t.Errorf("a new instance in flight: %d not waited for, want 1", g.unwaited())
	}
}
