package scp

import (
	"context"
	"sync"

	"github.com/imgcloud/gateway/archive"
)

// groupCommit makes stored instances durable for many associations at
// once: while one archive.Commit runs, the instances stored meanwhile wait
// and the next Commit covers them all, so concurrent associations share
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
}

func newGroupCommit(a Archive) *groupCommit {
	g := &groupCommit{archive: a, next: 1, failed: map[uint64]error{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// commit returns once st is durable (or its batch failed).
func (g *groupCommit) commit(ctx context.Context, st *archive.Stored) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, st)
	mine := g.next
	for g.done < mine {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		batch, id := g.pending, g.next
		g.pending, g.next = nil, g.next+1
		g.mu.Unlock()
		err := g.archive.Commit(ctx, batch)
		g.mu.Lock()
		g.running, g.done = false, id
		if err != nil {
			g.failed[id] = err
		}
		g.cond.Broadcast()
	}
	err := g.failed[mine]
	return err
}
