package shareapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failures limits invalid links and wrong PINs per client address: each
// failure takes a token from the address's bucket; an empty bucket makes
// every share request from it answer 429 until it refills.
type failures struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	m     map[string]*failEntry
	sweep time.Time
}

type failEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newFailures(perMinute float64, burst int) *failures {
	return &failures{r: rate.Limit(perMinute / 60), burst: burst, m: map[string]*failEntry{}}
}

func (f *failures) entry(addr string, now time.Time) *failEntry {
	if now.Sub(f.sweep) > time.Minute {
		for k, e := range f.m {
			if now.Sub(e.seen) > time.Hour {
				delete(f.m, k)
			}
		}
		f.sweep = now
	}
	e := f.m[addr]
	if e == nil {
		e = &failEntry{l: rate.NewLimiter(f.r, f.burst)}
		f.m[addr] = e
	}
	e.seen = now
	return e
}

// blocked reports whether addr has used up its failures.
func (f *failures) blocked(addr string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[addr]
	return ok && e.l.TokensAt(now) < 1
}

// fail counts one failure of addr.
func (f *failures) fail(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entry(addr, now).l.AllowN(now, 1)
}
