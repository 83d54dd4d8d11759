package shareapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wantPage checks a link's page status and words, for GET and for open.
func (e *env) wantPage(t *testing.T, name, link string, status int, words string) {
	t.Helper()
	resp, b := e.do(t, "GET", link, "", nil, nil, nil)
	if resp.StatusCode != status || !strings.Contains(string(b), words) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: GET %d, want %d with %q: %.300s", name, resp.StatusCode, status, words, b)
	}
	resp, b, ck := e.open(t, link, "")
	if resp.StatusCode != status || !strings.Contains(string(b), words) || ck != nil {
		t.Errorf("%s: open %d (cookie %v), want %d with %q", name, resp.StatusCode, ck != nil, status, words)
	}
}

func TestRefusedLinks(t *testing.T) {
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	other := e.create(t, "admin", map[string]any{"study": e.b.StudyUID})

	// Tampered and forged links: the same "not valid" page, 404. (The long
	// signed links made before short links are tested in package share.)
	tok := c.URL[strings.LastIndex(c.URL, "/s/")+3:]
	id, mac, _ := strings.Cut(tok, ".")
	_, otherMAC, _ := strings.Cut(other.URL[strings.LastIndex(other.URL, "/s/")+3:], ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	base := e.url + "/s/"
	for name, link := range map[string]string{
		"flipped MAC":   base + id + "." + flip(mac, 10),
		"wrong key tag": base + id + "." + flip(mac, 1),
		"other's MAC":   base + id + "." + otherMAC,
		"other id":      base + flip(id, 5) + "." + mac,
		"no MAC":        base + id,
		"garbage":       e.url + "/s/not-a-token",
		"too deep":      c.URL + "/x/y",
	} {
		if name == "too deep" {
			resp, b := e.do(t, "GET", link, "", nil, nil, nil)
			if resp.StatusCode != 404 || !strings.Contains(string(b), "This link is not valid") {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
			continue
		}
		e.wantPage(t, name, link, http.StatusNotFound, "This link is not valid")
	}

	// Expired by one second (the clock is injected); a second before the
	// end it still opens.
	start := e.clk.now()
	e.clk.set(c.Expires.Add(-time.Second))
	if resp, b, ck := e.open(t, c.URL, ""); resp.StatusCode != 200 || ck == nil {
		t.Errorf("a second before expiry: %d %.200s", resp.StatusCode, b)
	}
	e.clk.set(c.Expires.Add(time.Second))
	e.wantPage(t, "expired by one second", c.URL, http.StatusGone, "This link has expired")
	e.clk.set(start)

	// Revoked: the link and its open sessions stop at once.
	_, _, ck := e.open(t, other.URL, "")
	meta := "/dicomweb/studies/" + e.b.StudyUID + "/metadata"
	if resp, _ := e.do(t, "GET", meta, "", []*http.Cookie{ck}, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("session before revocation: %d", resp.StatusCode)
	}
	if resp, b := e.do(t, "DELETE", "/api/v1/shares/"+other.ID, "admin", nil, nil, nil); resp.StatusCode != 200 || !strings.Contains(string(b), `"state":"revoked"`) {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	e.wantPage(t, "revoked", other.URL, http.StatusGone, "This link was revoked")
	if resp, _ := e.do(t, "GET", meta, "", []*http.Cookie{ck}, nil, nil); resp.StatusCode != 401 {
		t.Errorf("session after revocation: %d", resp.StatusCode)
	}

	evs := e.events(t)
	for _, want := range []struct{ action, detail string }{
		{"POST /s/:token/open", "share link open: invalid"},
		{"GET /s/:token", "share link preview: invalid"},
		{"POST /s/:token/open", "share " + c.ID + " open: expired"},
		{"POST /s/:token/open", "share " + other.ID + " open: revoked"},
	} {
		if !hasEvent(evs, want.action, want.detail, 0) {
			t.Errorf("not audited: %s %q", want.action, want.detail)
		}
	}
}

func TestPINAndUses(t *testing.T) {
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID, "pin": "2468", "uses": 2})
	resp, b := e.do(t, "GET", c.URL, "", nil, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `name="pin"`) || !strings.Contains(string(b), "Opens left: 2") {
		t.Fatalf("landing with PIN: %d %s", resp.StatusCode, b)
	}
	if resp, _, ck := e.open(t, c.URL, ""); resp.StatusCode != 400 || ck != nil {
		t.Errorf("no PIN: %d", resp.StatusCode)
	}
	if resp, b, ck := e.open(t, c.URL, "1111"); resp.StatusCode != 403 || ck != nil || !strings.Contains(string(b), "2 attempts left") {
		t.Errorf("wrong PIN: %d %s", resp.StatusCode, b)
	}
	// A right PIN opens (and resets the count of wrong ones).
	if resp, _, ck := e.open(t, c.URL, "2468"); resp.StatusCode != 200 || ck == nil {
		t.Errorf("right PIN: %d", resp.StatusCode)
	}
	// Three wrong PINs in a row lock the link for good, right PIN or not.
	for i, want := range []int{403, 403, 403} {
		resp, b, _ := e.open(t, c.URL, "0000")
		if resp.StatusCode != want {
			t.Errorf("wrong PIN %d: %d", i+1, resp.StatusCode)
		}
		if i == 2 && !strings.Contains(string(b), "This link is locked") {
			t.Errorf("third wrong PIN: %s", b)
		}
	}
	e.wantPage(t, "locked", c.URL, http.StatusForbidden, "This link is locked")
	if resp, _, ck := e.open(t, c.URL, "2468"); resp.StatusCode != 403 || ck != nil {
		t.Errorf("right PIN after the lock: %d", resp.StatusCode)
	}
	_, b = e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
	if !strings.Contains(string(b), `"state":"locked"`) || strings.Contains(string(b), "salt") {
		t.Errorf("share after the lock: %s", b)
	}

	// Use limit: one open allowed; previews never count.
	one := e.create(t, "clin", map[string]any{"study": e.a.StudyUID, "uses": 1})
	for i := 0; i < 3; i++ {
		e.do(t, "GET", one.URL, "", nil, nil, nil)
	}
	if resp, _, ck := e.open(t, one.URL, ""); resp.StatusCode != 200 || ck == nil {
		t.Errorf("first open: %d", resp.StatusCode)
	}
	e.wantPage(t, "used up", one.URL, http.StatusGone, "This link has been used up")

	evs := e.events(t)
	for _, d := range []string{"open: PIN missing", "open: PIN wrong", "open: locked", "open ok (use 1 of 2)", "open ok (use 1 of 1)", "open: used up"} {
		if !hasEvent(evs, "POST /s/:token/open", d, 0) {
			t.Errorf("not audited: %q", d)
		}
	}
}

func TestGuessingIsRateLimited(t *testing.T) {
	e := startWith(t, 0) // the default: 10
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	limited := false
	for i := 0; i < 15; i++ {
		resp, b := e.do(t, "GET", "/s/guess"+strings.Repeat("x", i)+".abc", "", nil, nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "Too many attempts") {
				t.Errorf("429 page: %v %s", resp.Header, b)
			}
			break
		}
	}
	if !limited {
		t.Fatal("15 invalid links from one address were never limited")
	}
	// Blocked addresses cannot even use a good link for a while...
	if resp, _ := e.do(t, "GET", c.URL, "", nil, nil, nil); resp.StatusCode != 429 {
		t.Errorf("good link from a blocked address: %d", resp.StatusCode)
	}
	// ...and are let in again as the bucket refills (1 a minute).
	e.clk.set(e.clk.now().Add(2 * time.Minute))
	if resp, _ := e.do(t, "GET", c.URL, "", nil, nil, nil); resp.StatusCode != 200 {
		t.Errorf("after two minutes: %d", resp.StatusCode)
	}
	if !hasEvent(e.events(t), "GET /s/:token", "share link rate limited", 429) {
		t.Error("rate limiting not audited")
	}
}

func TestKeyRotation(t *testing.T) {
	e := start(t)
	old := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	resp, b := e.do(t, "GET", "/api/v1/admin/share-keys", "admin", nil, nil, nil)
	var keys []struct {
		ID      string `json:"id"`
		Signing bool   `json:"signing"`
	}
	if json.Unmarshal(b, &keys) != nil || len(keys) != 1 || !keys[0].Signing {
		t.Fatalf("keys: %d %s", resp.StatusCode, b)
	}
	oldKey := keys[0].ID
	if resp, _ := e.do(t, "DELETE", "/api/v1/admin/share-keys/"+oldKey, "admin", nil, nil, nil); resp.StatusCode != 400 {
		t.Errorf("retiring the signing key: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/v1/admin/share-keys", "clin", nil, nil, nil); resp.StatusCode != 403 {
		t.Errorf("a clinician rotated keys: %d", resp.StatusCode)
	}
	if resp, b := e.do(t, "POST", "/api/v1/admin/share-keys", "admin", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("rotate: %d %s", resp.StatusCode, b)
	}
	fresh := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	if keyTag(fresh.URL) == keyTag(old.URL) {
		t.Fatal("the new link is not signed with the new key")
	}
	// The old link keeps working after the rotation...
	for _, link := range []string{old.URL, fresh.URL} {
		if resp, _, ck := e.open(t, link, ""); resp.StatusCode != 200 || ck == nil {
			t.Errorf("open %s after rotation: %d", link, resp.StatusCode)
		}
	}
	// ...until its key is retired; the new one is not affected.
	if resp, b := e.do(t, "DELETE", "/api/v1/admin/share-keys/"+oldKey, "admin", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("retire: %d %s", resp.StatusCode, b)
	}
	e.wantPage(t, "retired key", old.URL, http.StatusNotFound, "This link is not valid")
	if resp, _, _ := e.open(t, fresh.URL, ""); resp.StatusCode != 200 {
		t.Errorf("new link after retiring the old key: %d", resp.StatusCode)
	}
	// The QR route signs the old share again with the current key.
	resp, b = e.do(t, "GET", "/api/v1/shares/"+old.ID+"/qr.png", "clin", nil, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("qr: %d", resp.StatusCode)
	}
	again := decodeQR(t, b)
	if keyTag(again) == keyTag(old.URL) {
		t.Error("QR signed with the retired key")
	}
	if resp, _, _ := e.open(t, again, ""); resp.StatusCode != 200 {
		t.Errorf("re-signed link: %d", resp.StatusCode)
	}
}

// keyTag is the part of a short link that names its key.
func keyTag(link string) string {
	_, mac, _ := strings.Cut(link[strings.LastIndex(link, "/s/")+3:], ".")
	return mac[:4]
}
