package index

import (
	"container/list"
	"sync"
)

// rowCache keeps recently read instance rows decoded: frame and retrieve
// requests read the same rows again and again, and decoding a row's JSON
// costs more than serving a small frame. Rows are immutable once written
// (a re-store of other bytes is refused), so only deletion invalidates.
type rowCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type rowEntry struct {
	key string
	in  *Instance
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *rowCache) get(key string) (*Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*rowEntry).in, true
	}
	return nil, false
}

func (c *rowCache) put(key string, in *Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*rowEntry).in = in
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&rowEntry{key, in})
	if c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*rowEntry).key)
	}
}

func (c *rowCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
}
