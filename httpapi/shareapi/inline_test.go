package shareapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSharePageInlinesThumbnail: the share page a session opens holds its
// study's thumbnail as a data: URI and its stylesheet inline, allowed by
// the hash in the page's CSP; a page asked for without the session, or
// for a study the session does not cover, holds no picture (the inline
// thumbnail is read through the access rules like any other).
func TestSharePageInlinesThumbnail(t *testing.T) {
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	resp, _, ck := e.open(t, c.URL, "")
	if resp.StatusCode != http.StatusOK || ck == nil {
		t.Fatalf("open: %d", resp.StatusCode)
	}
	page := func(study string, cookies []*http.Cookie) (*http.Response, string) {
		resp, b := e.do(t, "GET", "/share.html?"+url.Values{"studyUID": {study}}.Encode(), "", cookies, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("share.html: %d", resp.StatusCode)
		}
		return resp, string(b)
	}
	resp, body := page(e.a.StudyUID, []*http.Cookie{ck})
	if !strings.Contains(body, `<img id="image" src="data:image/jpeg;base64,`) {
		t.Error("the session's share page holds no inline thumbnail")
	}
	if !strings.Contains(body, "<style>") || strings.Contains(body, `href="style.css"`) {
		t.Error("the stylesheet is not inline")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self' 'sha256-") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("CSP %q: the inline style is not allowed by its hash alone", csp)
	}
	for name, tc := range map[string]struct {
		study   string
		cookies []*http.Cookie
	}{
		"no session":    {e.a.StudyUID, nil},
		"another study": {e.b.StudyUID, []*http.Cookie{ck}},
	} {
		if _, body := page(tc.study, tc.cookies); strings.Contains(body, "data:image") || !strings.Contains(body, `href="style.css"`) {
			t.Errorf("%s: the page holds a picture or an inline style", name)
		}
	}
}
