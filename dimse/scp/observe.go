package scp

import (
	"context"
	"sync"
	"time"

	"github.com/imgcloud/gateway/archive"
)

// Recognition's eligibility check writes a record (an fsync) each time:
// after every C-STORE it would cost more than the store. The first
// instance of a study is told at once (the check records who holds a new
// study, as after a STOW-RS request); later ones, from any association,
// mark the study, which is told again once no instance arrived for
// settleAfter.
const (
	settleAfter = 500 * time.Millisecond
	maxSeen     = 100000 // studies remembered as told (then forgotten at once)
)

// studyNotes are the studies stored but not yet told again, and those
// told since start.
type studyNotes struct {
	mu    sync.Mutex
	seen  map[string]bool
	dirty map[string]note
}

// note is the last instance of a study awaiting the observers, with the
// context (the storing AE's principal) to tell them in.
type note struct {
	ctx context.Context
	st  *archive.Stored
	at  time.Time
}

// ran tells the archive's observers of a durable instance: now if it is
// the first of its study since start, else once its study settles.
func (s *Service) ran(ctx context.Context, st *archive.Stored) {
	ctx = context.WithoutCancel(ctx)
	n := &s.notes
	n.mu.Lock()
	first := !n.seen[st.Study]
	if first {
		if len(n.seen) >= maxSeen {
			n.seen = map[string]bool{}
		}
		n.seen[st.Study] = true
	} else {
		n.dirty[st.Study] = note{ctx: ctx, st: st, at: time.Now()}
	}
	n.mu.Unlock()
	if first {
		s.opt.Archive.Notify(ctx, []*archive.Stored{st})
	}
}

// settle tells the observers of the studies that settled (all of them
// when all is set).
func (s *Service) settle(all bool) {
	n := &s.notes
	n.mu.Lock()
	var due []note
	for study, d := range n.dirty {
		if all || time.Since(d.at) >= settleAfter {
			due = append(due, d)
			delete(n.dirty, study)
		}
	}
	n.mu.Unlock()
	for _, d := range due {
		s.opt.Archive.Notify(d.ctx, []*archive.Stored{d.st})
	}
}

// settleLoop runs settle until the service closes, then tells the rest.
func (s *Service) settleLoop() {
	defer s.bg.Done()
	t := time.NewTicker(settleAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-s.base.Done():
			s.settle(true)
			return
		case <-t.C:
			s.settle(false)
		}
	}
}
