package dcm

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// TagForKeyword returns the tag ("00100010") of a data dictionary keyword
// ("PatientName"). An 8-digit hexadecimal tag is accepted too and returned
// in upper case. The library's dictionary has no keyword index, so a
// keyword lookup scans it (tens of microseconds): resolve keywords once per
// request, not per result.
func TagForKeyword(kw string) (string, bool) {
	if t, ok := parseTagKey(kw); ok {
		return tagKey(t), true
	}
	if kw == "" {
		return "", false
	}
	if t, ok := keywordCache.Load(kw); ok {
		return t.(string), t.(string) != ""
	}
	t := ""
	if info, err := tag.FindByKeyword(kw); err == nil && info.Keyword == kw {
		t = tagKey(uint32(info.Tag.Group)<<16 | uint32(info.Tag.Element))
	}
	keywordCache.Store(kw, t)
	return t, t != ""
}

// keywordCache memoises keyword lookups: the library's FindByKeyword scans
// its whole dictionary. Misses are cached too, bounded to 4096 distinct
// keys so that hostile queries cannot grow it without end.
var keywordCache = &boundedCache{max: 4096}

type boundedCache struct {
	m   sync.Map
	n   atomic.Int64
	max int64
}

func (c *boundedCache) Load(k string) (any, bool) { return c.m.Load(k) }
func (c *boundedCache) Store(k string, v string) {
	if c.n.Load() >= c.max {
		return
	}
	if _, loaded := c.m.LoadOrStore(k, v); !loaded {
		c.n.Add(1)
	}
}

// KeywordForTag returns the data dictionary keyword of tag ("00100010" ->
// "PatientName"), or "" for private and unknown tags.
func KeywordForTag(key string) string {
	info, ok := lookupTag(key)
	if !ok {
		return ""
	}
	return info.Keyword
}

// VRForTag returns the data dictionary VR of tag ("00100010" -> "PN"): the
// first one where the dictionary allows several ("US or SS" -> "US"), and
// "UN" for private and unknown tags.
func VRForTag(key string) string {
	info, ok := lookupTag(key)
	if !ok || len(info.VRs) == 0 {
		return "UN"
	}
	return info.VRs[0]
}

func lookupTag(key string) (tag.Info, bool) {
	t, ok := parseTagKey(key)
	if !ok {
		return tag.Info{}, false
	}
	info, err := tag.Find(tag.Tag{Group: uint16(t >> 16), Element: uint16(t)})
	return info, err == nil
}

// parseTagKey parses an 8-digit hexadecimal tag.
func parseTagKey(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}
