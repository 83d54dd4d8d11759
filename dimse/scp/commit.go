package scp

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// inflight are the associations receiving or storing an instance
	// that has not joined a batch yet: a commit waits up to inflightWait
	// for them, since they are about to join. The value says a commit
	// already waited that long for the instance: it is not waited for
	// again, so that a peer sending slowly (a slow link, or one byte at a
	// time) delays one commit of the others, not every one.
	inflight     map[any]bool
	inflightWait time.Duration
	// recent is, for each storing association, the last batch it joined:
	// a commit waits up to linger for those active in the last two
	// batches to join this one (their next instance may still be on the
	// wire).
	recent map[any]uint64
	linger time.Duration
	// wake tells a lingering commit that an association began, joined
	// or gave up.
	wake chan struct{}
	// syncs counts syncs (optional).
	syncs prometheus.Counter
}

// defaultLinger bounds how long a commit waits for the other active
// associations' next instance. Each association sends one instance and
// waits for its answer, so an eager commit covers about half of them
// (the rest arrive while it syncs) and the next sync waits for that one;
// a short wait lets one sync cover all of them. An association idle for
// two batches is not waited for.
const defaultLinger = 2 * time.Millisecond

// defaultInflightWait bounds the wait for an instance that is arriving
// or being stored. On a busy machine that takes longer than the linger,
// and each sync it then shares saves a few fsyncs of CPU (one batch per
// instance, measured with storescu over 4 associations, before this
// wait).
const defaultInflightWait = 5 * time.Millisecond

func newGroupCommit(a Archive) *groupCommit {
	g := &groupCommit{archive: a, next: 1, failed: map[uint64]error{}, recent: map[any]uint64{}, linger: defaultLinger,
		inflight: map[any]bool{}, inflightWait: defaultInflightWait, wake: make(chan struct{}, 1)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// poke wakes a lingering commit (mu held).
func (g *groupCommit) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// begin notes that association who is receiving an instance it may
// commit; commit or abandon ends that.
func (g *groupCommit) begin(who any) {
	g.mu.Lock()
	g.inflight[who] = false
	g.poke()
	g.mu.Unlock()
}

// abandon notes that who's instance will not be committed (refused, a
// duplicate, a broken association).
func (g *groupCommit) abandon(who any) {
	g.mu.Lock()
	if _, ok := g.inflight[who]; ok {
		delete(g.inflight, who)
		g.poke()
	}
	g.mu.Unlock()
}

// leave forgets an association that ended.
func (g *groupCommit) leave(who any) {
	g.mu.Lock()
	delete(g.recent, who)
	delete(g.inflight, who)
	g.poke()
	g.mu.Unlock()
}

// unwaited counts the instances in flight no commit waited for yet.
func (g *groupCommit) unwaited() int {
	n := 0
	for _, waited := range g.inflight {
		if !waited {
			n++
		}
	}
	return n
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

// lingerFor waits (mu held) while instances not waited for yet are in
// flight, up to inflightWait, or while fewer instances are pending than
// associations were active lately, up to linger.
func (g *groupCommit) lingerFor() {
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wait time.Duration
		since := time.Since(start)
		switch {
		case g.unwaited() > 0 && since < g.inflightWait:
			wait = g.inflightWait - since
		case len(g.pending)+len(g.inflight) < g.active() && since < g.linger:
			wait = g.linger - since
		default:
			for w := range g.inflight { // waited for in full (or not at all)
				g.inflight[w] = true
			}
			return
		}
		timer.Reset(wait)
		g.mu.Unlock()
		select {
		case <-g.wake:
		case <-timer.C:
		}
		g.mu.Lock()
	}
}

// commit returns once st, stored by association who, is durable (or its
// batch failed).
func (g *groupCommit) commit(ctx context.Context, who any, st *archive.Stored) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, st)
	mine := g.next
	g.recent[who] = mine
	delete(g.inflight, who)
	g.poke()
	for g.done < mine {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		// Latecomers append to pending meanwhile and wait on cond.
		select { // a stale wake-up
		case <-g.wake:
		default:
		}
		g.lingerFor()
		// One sync makes the batch durable; observers are told per
		// association (Service.notify).
		id := g.next
		g.pending, g.next = nil, g.next+1
		g.mu.Unlock()
		err := g.archive.Sync(ctx)
		if g.syncs != nil {
			g.syncs.Inc()
		}
		g.mu.Lock()
		g.running, g.done = false, id
		if err != nil {
			g.failed[id] = err
		}
		g.cond.Broadcast()
	}
	return g.failed[mine]
}
