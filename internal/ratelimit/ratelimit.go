// Package ratelimit keeps one token bucket per key (an API token, a client
// address), forgetting keys that stay idle, so memory stays bounded
// whoever calls.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key.
type Keyed struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	// base and baseBurst are the limits New was given, which Split
	// divides.
	base      rate.Limit
	baseBurst int
	parts     int
	idle      time.Duration
	m         map[string]*bucket
	sweep     time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns buckets refilled at perSecond up to burst; a key unused for
// idle is forgotten (its bucket starts full again).
func New(perSecond float64, burst int, idle time.Duration) *Keyed {
	return &Keyed{r: rate.Limit(perSecond), burst: burst, base: rate.Limit(perSecond), baseBurst: burst, parts: 1, idle: idle, m: map[string]*bucket{}}
}

// Split makes these buckets one of n equal parts of the limits New was
// given (n gateways behind one address, each counting its own requests):
// rate/n, burst/n (at least 1), so that n sets together never allow more
// than one would. Buckets keep the tokens they hold, up to the new burst.
func (k *Keyed) Split(n int, now time.Time) {
	n = max(n, 1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if n == k.parts {
		return
	}
	k.parts = n
	k.r, k.burst = k.base/rate.Limit(n), max(1, k.baseBurst/n)
	for _, b := range k.m {
		b.l.SetLimitAt(now, k.r)
		b.l.SetBurstAt(now, k.burst)
	}
}

// Allow takes a token from key's bucket and reports whether there was one.
func (k *Keyed) Allow(key string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.sweep) > time.Minute {
		for key, b := range k.m {
			if now.Sub(b.seen) > k.idle {
				delete(k.m, key)
			}
		}
		k.sweep = now
	}
	b := k.m[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(k.r, k.burst)}
		k.m[key] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// Empty reports whether key's bucket has no whole token left, taking none.
func (k *Keyed) Empty(key string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.m[key]
	return ok && b.l.TokensAt(now) < 1
}

// Error refuses a caller that has used up its allowance. The HTTP layer
// answers 429 with a Retry-After of RetryAfter, rounded up to seconds.
type Error struct {
	// Msg says who is limited and what to do, for people.
	Msg string
	// RetryAfter is when a retry may succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }
