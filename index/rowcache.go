package index

import (
	"container/list"
	"sync"
)

// lru keeps recently read rows decoded: frame and retrieve requests read
// the same instance rows again and again, QIDO the same study rows, and
// decoding a row's JSON costs more than serving a small frame. It holds at
// most max bytes of rows (as size estimates them), so its memory does not
// grow with the archive. Writers put the row they wrote and delete what
// they removed.
type lru[V any] struct {
	mu           sync.Mutex
	max, used    int
	size         func(V) int
	ll           *list.List
	items        map[string]*list.Element
	hits, misses uint64
}

type lruEntry[V any] struct {
	key  string
	v    V
	size int
}

func newLRU[V any](maxBytes int, size func(V) int) *lru[V] {
	return &lru[V]{max: maxBytes, size: size, ll: list.New(), items: map[string]*list.Element{}}
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
	n := c.size(v) + len(key) + 64
	if el, ok := c.items[key]; ok {
		e := el.Value.(*lruEntry[V])
		c.used += n - e.size
		e.v, e.size = v, n
		c.ll.MoveToFront(el)
	} else {
		c.items[key] = c.ll.PushFront(&lruEntry[V]{key, v, n})
		c.used += n
	}
	for c.used > c.max && c.ll.Len() > 1 {
		last := c.ll.Back()
		e := last.Value.(*lruEntry[V])
		c.ll.Remove(last)
		delete(c.items, e.key)
		c.used -= e.size
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
		c.used -= el.Value.(*lruEntry[V]).size
	}
}

func (c *lru[V]) stats() (hits, misses uint64, n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.ll.Len(), c.used
}

// elemBytes estimates what one decoded attribute costs in memory (map
// entry, element, value slice and strings).
const elemBytes = 200

func instanceSize(in *Instance) int {
	n := 256 + elemBytes*len(in.Attrs) + 32*len(in.Bulk)
	if in.Received != nil {
		n += 160
	}
	for _, f := range in.Frames.Frames {
		n += 24 + 16*len(f)
	}
	return n
}

func studySize(st *Study) int { return 256 + elemBytes*len(st.Attrs) + 16*len(st.Modalities) }

func seriesListSize(ss []*Series) int {
	n := 24
	for _, s := range ss {
		n += 128 + elemBytes*len(s.Attrs)
	}
	return n
}
