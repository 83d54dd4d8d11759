package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/index"
)

// Replicas alive on one shared index, for the request limits: each
// gateway renews the lease "replica/"+holder every replicaBeat and counts
// the live ones, and its limiters allow 1/N of the configured rates
// (guard.Options.Replicas), so that N replicas together allow what one
// gateway would, per token and per address. One database query per beat
// instead of a shared bucket's UPDATE per request (see
// docs/storage-and-deployment.md for the figures).

const (
	replicaBeat  = 2 * time.Second
	replicaLease = 3 * replicaBeat // a replica killed leaves the count within it
)

// countReplicas starts the count (1 until the first beat, and for an
// index that serves one gateway) and stops it when the gateway closes.
func (g *gateway) countReplicas(db index.Store, log *slog.Logger) func() int {
	var n atomic.Int64
	n.Store(1)
	l, ok := db.(index.Leaser)
	if !ok {
		return func() int { return 1 }
	}
	holder := holderName()
	name := "replica/" + holder
	beat := func() {
		if _, err := l.Lease(name, holder, replicaLease); err != nil {
			log.Warn("replica count", "err", err)
			return
		}
		if live, err := l.Live("replica/"); err == nil && live > 0 {
			n.Store(int64(live))
		}
	}
	beat()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(replicaBeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()
	g.closers = append(g.closers, func() error {
		cancel()
		<-done
		_ = l.Release(name, holder) // the others' count drops at their next beat
		return nil
	})
	return func() int { return int(n.Load()) }
}
