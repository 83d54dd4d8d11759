package guard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/records"
)

type env struct {
	url    string
	tokens map[auth.Role]string
	audit  *audit.Log
	man    *corpus.Manifest
}

func start(t *testing.T, rate float64) *env {
	t.Helper()
	return startWith(t, guard.Options{RatePerSecond: rate, Burst: int(rate)}, audit.Options{})
}

// startWith serves the gateway with the access options given (their Auth
// and Audit are filled in) and an audit trail opened with aopt.
func startWith(t *testing.T, opt guard.Options, aopt audit.Options) *env {
	t.Helper()
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	rec := records.New(store, db)
	toks := auth.NewTokens(rec, nil)
	al, err := audit.Open(db, store, aopt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	api := &adminapi.API{Tokens: toks, Audit: al}
	opt.Auth, opt.Audit = &auth.Authenticator{Tokens: toks}, al
	if opt.Policy, err = server.Policy(access.Prefix(server.APIRoot, adminapi.AccessRules)); err != nil {
		t.Fatal(err)
	}
	mw := guard.Middleware(opt)
	srv := httptest.NewServer(server.New(svc, server.Options{Access: mw, API: []func(*echo.Group){api.Register}}))
	t.Cleanup(srv.Close)
	e := &env{url: srv.URL, tokens: map[auth.Role]string{}, audit: al}
	for role, inst := range map[auth.Role]string{auth.RoleAdmin: "", auth.RolePACS: "h1", auth.RoleClinician: "h1", auth.RolePeer: "", auth.RolePatient: ""} {
		clear, _, err := toks.Create(context.Background(), auth.Principal{Role: role, Institution: inst, User: "u-" + string(role), PersonKey: pk(role)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = clear
	}
	e.man, err = corpus.Generate(t.TempDir(), corpus.Options{Studies: 2, SeriesPerStudy: 1, InstancesPerSeries: 2, Seed: 3, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) do(t *testing.T, method, path, token string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	var r *strings.Reader
	if body != nil {
		r = strings.NewReader(string(body))
		return gwtest.Do(t, method, e.url+path, h, r)
	}
	return gwtest.Do(t, method, e.url+path, h, nil)
}

func TestRolesAndAudit(t *testing.T) {
	e := start(t, 0)
	f := e.man.Files[0]
	body, ct := gwtest.Multipart(gwtest.FileParts(t, e.man.Abs(f)))
	stow := map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}
	for _, c := range []struct {
		name, method, path string
		role               auth.Role
		token              string
		hdr                map[string]string
		body               []byte
		want               int
	}{
		{"no token", "GET", "/dicomweb/studies", "", "", nil, nil, 401},
		{"garbage token", "GET", "/dicomweb/studies", "", "gw_nope_nopenopenopenope", nil, nil, 401},
		{"token in query string", "GET", "/dicomweb/studies?access_token=" + e.tokens[auth.RoleAdmin], "", "", nil, nil, 401},
		{"clinician may not store", "POST", "/dicomweb/studies", auth.RoleClinician, "", stow, body, 403},
		{"PACS stores", "POST", "/dicomweb/studies", auth.RolePACS, "", stow, body, 200},
		{"PACS may not read", "GET", "/dicomweb/studies", auth.RolePACS, "", nil, nil, 403},
		{"clinician reads", "GET", "/dicomweb/studies/" + f.StudyUID + "/metadata", auth.RoleClinician, "", nil, nil, 200},
		{"clinician may not manage tokens", "GET", "/api/v1/admin/tokens", auth.RoleClinician, "", nil, nil, 403},
		{"admin lists tokens", "GET", "/api/v1/admin/tokens", auth.RoleAdmin, "", nil, nil, 200},
		{"metrics need admin", "GET", "/metrics", auth.RoleClinician, "", nil, nil, 403},
		{"health is open", "GET", "/healthz", "", "", nil, nil, 200},
	} {
		tok := c.token
		if c.role != "" {
			tok = e.tokens[c.role]
		}
		resp, b := e.do(t, c.method, c.path, tok, c.hdr, c.body)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.want)
		}
		if c.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers missing", c.name)
		}
	}
	// Token list never shows hashes.
	_, b := e.do(t, "GET", "/api/v1/admin/tokens", e.tokens[auth.RoleAdmin], nil, nil)
	if strings.Contains(string(b), `"hash":"`) && !strings.Contains(string(b), `"hash":""`) {
		t.Errorf("token hashes exposed: %s", b)
	}
	// Every patient-data request is in the audit trail, refusals included,
	// and no token secret is.
	resp, b := e.do(t, "GET", "/api/v1/admin/audit", e.tokens[auth.RoleAdmin], nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("audit query: %d %s", resp.StatusCode, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var sawRead, saw401 bool
	for _, ln := range lines {
		var ev audit.Event
		if err := json.Unmarshal([]byte(ln), &ev); err != nil {
			t.Fatalf("audit line %q: %v", ln, err)
		}
		sawRead = sawRead || (ev.Study == f.StudyUID && ev.Outcome == 200 && ev.Role == "clinician" && ev.Institution == "h1")
		saw401 = saw401 || ev.Outcome == 401
		for _, tok := range e.tokens {
			if strings.Contains(ln, strings.Split(tok, "_")[2]) {
				t.Fatal("a token secret reached the audit trail")
			}
		}
	}
	if !sawRead || !saw401 {
		t.Errorf("audit trail lacks the clinician's read (%v) or the refusal (%v): %d events", sawRead, saw401, len(lines))
	}
	resp, b = e.do(t, "GET", "/api/v1/admin/audit/verify", e.tokens[auth.RoleAdmin], nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"ok":true`) {
		t.Errorf("audit verify: %d %s", resp.StatusCode, b)
	}
	// A token created through the API works at once and can be revoked.
	resp, b = e.do(t, "POST", "/api/v1/admin/tokens", e.tokens[auth.RoleAdmin], map[string]string{"Content-Type": "application/json"},
		[]byte(`{"role":"clinician","institution":"h2","user":"dr.chen","ttl":"1h"}`))
	var created struct{ Token, ID string }
	if resp.StatusCode != 201 || json.Unmarshal(b, &created) != nil {
		t.Fatalf("create token: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do(t, "GET", "/api/v1/me", created.Token, nil, nil); resp.StatusCode != 200 {
		t.Errorf("new token: %d", resp.StatusCode)
	}
	e.do(t, "DELETE", "/api/v1/admin/tokens/"+created.ID, e.tokens[auth.RoleAdmin], nil, nil)
	if resp, _ := e.do(t, "GET", "/api/v1/me", created.Token, nil, nil); resp.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	e := start(t, 5)
	limited := 0
	for i := 0; i < 30; i++ {
		resp, _ := e.do(t, "GET", "/api/v1/me", e.tokens[auth.RoleClinician], nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("30 quick requests at 5/s were never limited")
	}
	// Another token has its own budget.
	if resp, _ := e.do(t, "GET", "/api/v1/me", e.tokens[auth.RoleAdmin], nil, nil); resp.StatusCode != 200 {
		t.Errorf("other token limited too: %d", resp.StatusCode)
	}
}

// pk gives patient tokens a person key.
func pk(r auth.Role) string {
	if r == auth.RolePatient {
		return strings.Repeat("ab", 32)
	}
	return ""
}
