package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCacheStatsExported: each scrape reads the caches' figures afresh and
// exports them by cache name.
func TestCacheStatsExported(t *testing.T) {
	m := New(func() (int, int, int) { return 1, 2, 3 })
	hits := uint64(5)
	m.CacheStats(func() []CacheStat {
		return []CacheStat{{Name: "study", Hits: hits, Misses: 2, Bytes: 4096}}
	})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	body := scrape()
	for _, want := range []string{
		`gateway_index_cache_hits_total{cache="study"} 5`,
		`gateway_index_cache_misses_total{cache="study"} 2`,
		`gateway_index_cache_bytes{cache="study"} 4096`,
		`gateway_index_instances 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	hits = 9
	if body := scrape(); !strings.Contains(body, `gateway_index_cache_hits_total{cache="study"} 9`) {
		t.Errorf("a second scrape did not read the caches again")
	}
}
