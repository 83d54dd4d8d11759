package siteurl

import (
	"net/http/httptest"
	"testing"
)

func TestRoot(t *testing.T) {
	for _, c := range []struct {
		name    string
		host    string
		hdr     map[string]string
		trusted bool
		want    string
	}{
		{"plain", "pacs.example.cn:8080", nil, false, "http://pacs.example.cn:8080"},
		{"forwarded, trusted", "10.0.0.5:8080", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pacs.example.cn", "X-Forwarded-Prefix": "/cloud/"}, true, "https://pacs.example.cn/cloud"},
		{"forwarded, not trusted", "10.0.0.5:8080", map[string]string{"X-Forwarded-Host": "evil.example"}, false, "http://10.0.0.5:8080"},
		{"injected host", `x"><script>`, nil, false, "http://localhost"},
		{"prefix with ..", "h", map[string]string{"X-Forwarded-Prefix": "/a/../b"}, true, "http://h"},
		{"odd proto", "h", map[string]string{"X-Forwarded-Proto": "javascript"}, true, "http://h"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = c.host
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := Root(r, c.trusted); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
