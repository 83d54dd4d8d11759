package archive

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/imgcloud/gateway/index"
)

// Several gateways on one index (replicas on PostgreSQL) write one object
// store under keys named by UIDs: two stores of one SOP Instance UID with
// different bytes must not both write the object, or the loser's bytes
// replace the winner's under the winner's index row. A store therefore
// claims the UID in the index (a lease) across the check, the object write
// and the index row; sopLocks serialise the stores of one gateway.

// claimTTL bounds how long a gateway that died mid-store keeps a UID
// claimed; claimWait how long a store waits for another gateway's.
const (
	claimTTL  = 10 * time.Minute
	claimWait = 30 * time.Second
)

// claim takes the index's lease of sop for this service, waiting while
// another gateway holds it; the returned function releases it. Without a
// shared index (no index.Leaser) it does nothing.
func (s *Service) claim(ctx context.Context, sop string) (func(), error) {
	l, ok := s.db.(index.Leaser)
	if !ok {
		return func() {}, nil
	}
	name := "sop/" + sop
	deadline := time.Now().Add(claimWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		got, err := l.Lease(name, s.holder, claimTTL)
		if err != nil {
			return nil, fmt.Errorf("%w: claim %s: %w", ErrUnavailable, sop, err)
		}
		if got {
			return func() {
				if err := l.Release(name, s.holder); err != nil {
					s.log.Warn("release claim", "sop", sop, "err", err)
				}
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: instance %s is being stored through another gateway; retry later", ErrUnavailable, sop)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// newHolder names a Service in the leases it takes.
func newHolder() string {
	return "archive/" + rand.Text()
}
