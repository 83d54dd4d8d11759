package index

import (
	"container/list"
	"sync"
)

// lru keeps recently read rows decoded: frame and retrieve requests read
// the same instance rows again and again, QIDO the same study rows, and
// decoding a row's JSON costs more than serving a small frame. It holds at
// most max entries, so its memory does not grow with the archive. Writers
// put the row they wrote and delete what they removed.
type lru[V any] struct {
	mu           sync.Mutex
	max          int
	ll           *list.List
	items        map[string]*list.Element
	hits, misses uint64
}

type lruEntry[V any] struct {
	key string
	v   V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.hits++
		return el.Value.(*lruEntry[V]).v, true
	}
	c.misses++
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, v)
}

func (c *lru[V]) putLocked(key string, v V) {
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry[V]).v = v
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&lruEntry[V]{key, v})
	if c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*lruEntry[V]).key)
	}
}

// putIf puts v unless ok, called under the cache's lock, says a writer
// came between the read of v and now.
func (c *lru[V]) putIf(key string, v V, ok func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok() {
		c.putLocked(key, v)
	}
}

func (c *lru[V]) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
}

func (c *lru[V]) stats() (hits, misses uint64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.ll.Len()
}
