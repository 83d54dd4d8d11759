package federation

import (
	"errors"
	"sync"
	"time"
)

// Replay cache errors.
var (
	errReplay    = errors.New("replayed nonce")
	errCacheFull = errors.New("replay cache full: too many peer requests in the signature window")
)

// nonceCache remembers the nonces of accepted requests for as long as
// their signatures could still pass the clock-skew check, so that a
// captured request cannot be sent again. It is bounded: when it holds max
// live nonces, further requests are refused until some expire (failing
// closed rather than forgetting a nonce early).
type nonceCache struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	seen map[string]time.Time
	// queue holds keys in insertion order; expiries are non-decreasing as
	// long as the clock is, so expired keys are popped from the front.
	queue []nonceEntry
	head  int
}

type nonceEntry struct {
	key     string
	expires time.Time
}

func newNonceCache(ttl time.Duration, max int) *nonceCache {
	return &nonceCache{ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// add records key at now; it fails if key is live already or the cache is
// full.
func (c *nonceCache) add(key string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.queue) && !now.Before(c.queue[c.head].expires) {
		e := c.queue[c.head]
		if exp, ok := c.seen[e.key]; ok && !now.Before(exp) {
			delete(c.seen, e.key)
		}
		c.queue[c.head] = nonceEntry{}
		c.head++
	}
	if c.head > 1024 && c.head*2 > len(c.queue) {
		c.queue = append([]nonceEntry(nil), c.queue[c.head:]...)
		c.head = 0
	}
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return errReplay
	}
	if len(c.seen) >= c.max {
		return errCacheFull
	}
	exp := now.Add(c.ttl)
	c.seen[key] = exp
	c.queue = append(c.queue, nonceEntry{key: key, expires: exp})
	return nil
}

// size is the number of live nonces (tests).
func (c *nonceCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
