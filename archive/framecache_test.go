package archive

import (
	"fmt"
	"testing"
)

// TestFrameCacheBounded: the cache never holds more bytes than its limit,
// drops the least recently used frame first and keeps no frame larger
// than an eighth of the limit.
func TestFrameCacheBounded(t *testing.T) {
	c := newFrameCache(8000)
	for i := range 20 {
		c.put(fmt.Sprint(i), make([]byte, 1000), "MONOCHROME2")
		if _, _, ok := c.get("0"); !ok && i < 7 {
			t.Fatalf("frame 0 evicted after %d puts although it was used last", i+1)
		}
		if used, _ := c.size(); used > 8000 {
			t.Fatalf("cache holds %d bytes, limit 8000", used)
		}
	}
	if _, _, ok := c.get("0"); !ok {
		t.Error("the most recently read frame was evicted")
	}
	if _, _, ok := c.get("1"); ok {
		t.Error("an old frame is still cached")
	}
	c.put("big", make([]byte, 1001), "RGB")
	if _, _, ok := c.get("big"); ok {
		t.Error("a frame larger than an eighth of the limit was cached")
	}
	off := newFrameCache(-1)
	off.put("x", []byte{1}, "")
	if _, _, ok := off.get("x"); ok {
		t.Error("a disabled cache kept a frame")
	}
}
