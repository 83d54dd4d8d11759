package archive

import (
	"container/list"
	"sync"
)

// DefaultDecodedCacheBytes is Options.DecodedCacheBytes unless set: a
// viewer scrolling a CT stack asks for each decoded frame once per pass,
// and a thumbnail, /rendered and a native retrieve of the same frame
// follow one another.
const DefaultDecodedCacheBytes = 64 << 20

// frameCache keeps recently decoded frames, least recently used out
// first, within a byte budget. A frame larger than an eighth of the
// budget is not kept: it would push out everything else for one reader.
type frameCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	order *list.List // front: most recent
	byKey map[string]*list.Element
}

type cachedFrame struct {
	key         string
	pixels      []byte
	photometric string
}

func newFrameCache(limit int64) *frameCache {
	return &frameCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns a cached frame; callers must not change its bytes.
func (c *frameCache) get(key string) ([]byte, string, bool) {
	if c == nil || c.limit <= 0 {
		return nil, "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, "", false
	}
	c.order.MoveToFront(e)
	f := e.Value.(*cachedFrame)
	return f.pixels, f.photometric, true
}

func (c *frameCache) put(key string, pixels []byte, photometric string) {
	n := int64(len(pixels))
	if c == nil || c.limit <= 0 || n > c.limit/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.order.PushFront(&cachedFrame{key: key, pixels: pixels, photometric: photometric})
	c.used += n
	for c.used > c.limit {
		old := c.order.Back()
		f := old.Value.(*cachedFrame)
		c.order.Remove(old)
		delete(c.byKey, f.key)
		c.used -= int64(len(f.pixels))
	}
}

// size is the cache's bytes and frames (for tests).
func (c *frameCache) size() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.byKey)
}
