package shareapi

import (
	"time"

	"github.com/imgcloud/gateway/internal/ratelimit"
)

// failures limits invalid links and wrong PINs per client address: each
// failure takes a token from the address's bucket; an empty bucket makes
// every share request from it answer 429 until it refills. An address
// quiet for an hour is forgotten.
type failures struct{ k *ratelimit.Keyed }

func newFailures(perMinute float64, burst int) *failures {
	return &failures{ratelimit.New(perMinute/60, burst, time.Hour)}
}

// blocked reports whether addr has used up its failures.
func (f *failures) blocked(addr string, now time.Time) bool { return f.k.Empty(addr, now) }

// fail counts one failure of addr.
func (f *failures) fail(addr string, now time.Time) { f.k.Allow(addr, now) }
