package shareapi

import (
	"time"

	"github.com/imgcloud/gateway/internal/ratelimit"
)

// Failures limits invalid links and wrong PINs per client address: each
// failure counts against the address; one that has used up its failures
// is answered 429 on every share request until its allowance refills.
// share.AddressFailures counts in an index replicas share; without one,
// each gateway counts in memory.
type Failures interface {
	// Blocked reports whether addr has used up its failures.
	Blocked(addr string) (bool, error)
	// Fail counts one failure of addr.
	Fail(addr string) error
}

// localFailures counts in memory, a token bucket per address; an address
// quiet for an hour is forgotten.
type localFailures struct {
	k   *ratelimit.Keyed
	now func() time.Time
}

func newLocalFailures(perMinute float64, burst int, now func() time.Time) *localFailures {
	return &localFailures{ratelimit.New(perMinute/60, burst, time.Hour), now}
}

func (f *localFailures) Blocked(addr string) (bool, error) { return f.k.Empty(addr, f.now()), nil }

func (f *localFailures) Fail(addr string) error { f.k.Allow(addr, f.now()); return nil }
