package scp

import (
	"context"
	"sync"
	"time"

	"github.com/imgcloud/gateway/archive"
)

// groupCommit makes stored instances durable for many associations at
// once: while one archive.Sync runs, the instances stored meanwhile wait
// and the next Sync covers them all, so concurrent associations share
// each fsync instead of queueing one each (as STOW requests share one per
// request).
type groupCommit struct {
	archive Archive
	mu      sync.Mutex
	cond    *sync.Cond
	pending []*archive.Stored
	next    uint64 // id of the batch now collecting
	done    uint64 // id of the last batch committed
	running bool
	failed  map[uint64]error
	// recent is, for each storing association, the last batch it joined:
	// a commit waits up to linger for those active in the last two
	// batches to join this one.
	recent map[any]uint64
	linger time.Duration
}

// defaultLinger bounds how long a commit waits for the other active
// associations' next instance. Each association sends one instance and
// waits for its answer, so an eager commit covers about half of them
// (the rest arrive while it syncs) and the next sync waits for that one;
// a short wait lets one sync cover all of them. An association idle for
// two batches is not waited for.
const defaultLinger = 2 * time.Millisecond

func newGroupCommit(a Archive) *groupCommit {
	g := &groupCommit{archive: a, next: 1, failed: map[uint64]error{}, recent: map[any]uint64{}, linger: defaultLinger}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// leave forgets an association that ended.
func (g *groupCommit) leave(who any) {
	g.mu.Lock()
	delete(g.recent, who)
	g.mu.Unlock()
}

// active counts the associations in this batch or one of the two before.
func (g *groupCommit) active() int {
	n := 0
	for _, b := range g.recent {
		if b+2 >= g.next {
			n++
		}
	}
	return n
}

// commit returns once st, stored by association who, is durable (or its
// batch failed).
func (g *groupCommit) commit(ctx context.Context, who any, st *archive.Stored) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, st)
	mine := g.next
	g.recent[who] = mine
	for g.done < mine {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		// Latecomers append to pending meanwhile and wait on cond.
		for deadline := time.Now().Add(g.linger); len(g.pending) < g.active() && time.Now().Before(deadline); {
			g.mu.Unlock()
			time.Sleep(g.linger / 8)
			g.mu.Lock()
		}
		// One sync makes the batch durable; observers are told per
		// association (Service.notify).
		id := g.next
		g.pending, g.next = nil, g.next+1
		g.mu.Unlock()
		err := g.archive.Sync(ctx)
		g.mu.Lock()
		g.running, g.done = false, id
		if err != nil {
			g.failed[id] = err
		}
		g.cond.Broadcast()
	}
	return g.failed[mine]
}
