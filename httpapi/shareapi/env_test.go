package shareapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/httpapi/shareapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/demo"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/share"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// clock is the injected time of a test gateway.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// facts stands in for the recognition service: study A belongs to
// institution h1 and person pkA, study B to h2 and pkB.
type facts struct{ inst, person map[string]string }

func (f facts) StudyInstitution(_ context.Context, st *index.Study) string { return f.inst[st.UID] }
func (f facts) StudyPerson(_ context.Context, st *index.Study) string      { return f.person[st.UID] }
func (f facts) StudyLink(ctx context.Context, st *index.Study) (string, time.Time) {
	return f.StudyPerson(ctx, st), time.Time{}
}
func (f facts) StudyItems(context.Context, *index.Study) []string { return nil }
func (f facts) Regions(string) []string                           { return nil }

// expiredStamp stands in for the recognition service's annotation: study
// A's recognition has expired, the stamp a patient must not be shown.
type expiredStamp struct{ study string }

func (x expiredStamp) AnnotateStudy(_ context.Context, st *index.Study) dcm.Dataset {
	if st.UID != x.study {
		return nil
	}
	return dcm.Dataset{
		"00110010": {VR: "LO", Value: []any{"IMGCLOUD RECOGNITION"}},
		"00111001": {VR: "CS", Value: []any{"EXPIRED"}},
		"00111003": {VR: "LO", Value: []any{"胸部CT平扫"}},
		"00111004": {VR: "DA", Value: []any{"20261001"}},
	}
}

// owners adapts facts to shareapi.Owners as cmd/gateway does with the
// recognition service.
type owners struct {
	db *index.DB
	f  facts
}

func (o owners) StudyInstitution(_ context.Context, study string) string { return o.f.inst[study] }
func (o owners) StudyPerson(_ context.Context, study string) string      { return o.f.person[study] }

var (
	pkA = strings.Repeat("a", 64)
	pkB = strings.Repeat("b", 64)
)

// env is a real gateway on loopback, assembled as serve does: file store,
// Badger, records, API tokens, audit trail, consent visibility, the access
// middleware and the share API, with two stored studies (A and B) made
// from real DICOM files.
type env struct {
	url    string
	clk    *clock
	keys   *share.Keyring
	audit  *audit.Log
	tokens map[string]string // by name: admin, pacs (h1), clin (h1, dr.li), clin2 (h2), li2 (h2, dr.li), patA
	man    *corpus.Manifest
	a, b   corpus.Study
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs a gateway that tolerates many failures per address, so that
// tests of refusals are not cut short by the guessing limit.
func start(t *testing.T) *env { t.Helper(); return startWith(t, 1000) }

// startWith runs a gateway whose guessing limit allows burst failures.
func startWith(t *testing.T, burst int) *env { t.Helper(); return startWithFiles(t, burst, nil) }

// startWithFiles runs a gateway that also holds extra, one demo study,
// of institution h1 and patient pkA (as study A).
func startWithFiles(t *testing.T, burst int, extra []demo.File) *env {
	t.Helper()
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	rec := records.New(store, db)
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	toks := auth.NewTokens(rec, nil)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })

	man, err := corpus.Generate(filepath.Join(dir, "corpus"), corpus.Options{Studies: 2, SeriesPerStudy: 1, InstancesPerSeries: 2, Seed: 7, Today: clk.t})
	if err != nil {
		t.Fatal(err)
	}
	studies := man.Studies()
	f := facts{inst: map[string]string{studies[0].StudyUID: "h1", studies[1].StudyUID: "h2"},
		person: map[string]string{studies[0].StudyUID: pkA, studies[1].StudyUID: pkB}}
	var extraPaths []string
	for i, df := range extra {
		f.inst[df.StudyUID], f.person[df.StudyUID] = "h1", pkA
		p := filepath.Join(dir, "extra", strconv.Itoa(i)+".dcm")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, df.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		extraPaths = append(extraPaths, p)
	}
	cons, err := consent.New(context.Background(), rec, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: access.NewVisibility(f, cons),
		Annotators: []archive.Annotator{expiredStamp{studies[0].StudyUID}}})

	keys, err := share.LoadKeyring(filepath.Join(dir, "secrets", "share-keys.json"), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	shares := share.New(rec, keys, share.Options{Now: clk.now})
	logs, logMu := &bytes.Buffer{}, &sync.Mutex{}
	log := slog.New(slog.NewTextHandler(lockedWriter{logMu, logs}, nil))
	api := shareapi.New(shareapi.Options{Shares: shares, Archive: svc, Owners: owners{db, f}, Now: clk.now, Logger: log, FailureBurst: burst, PageOnOpen: true})
	authn := &auth.Authenticator{Tokens: toks, Sessions: []auth.SessionFunc{api.Session}}
	policy, err := server.Policy(access.Prefix(server.APIRoot, adminapi.AccessRules), access.Prefix(server.APIRoot, shareapi.AccessRules), shareapi.LinkRules)
	if err != nil {
		t.Fatal(err)
	}
	mw := guard.Middleware(guard.Options{Auth: authn, Policy: policy, Audit: al})
	srv := httptest.NewServer(server.New(svc, server.Options{
		Access: mw, Logger: log, Viewer: viewerstatic.FS(),
		API:    []func(*echo.Group){(&adminapi.API{Tokens: toks, Audit: al}).Register, api.Register},
		Routes: []func(*echo.Echo){api.RegisterLinks},
	}))
	t.Cleanup(srv.Close)

	e := &env{url: srv.URL, clk: clk, keys: keys, audit: al, tokens: map[string]string{}, man: man,
		a: studies[0], b: studies[1], logs: logs, logMu: logMu}
	for name, p := range map[string]auth.Principal{
		"admin": {Role: auth.RoleAdmin, User: "ops"},
		"pacs":  {Role: auth.RolePACS, Institution: "h1", User: "pacs"},
		"clin":  {Role: auth.RoleClinician, Institution: "h1", User: "dr.li"},
		"clin2": {Role: auth.RoleClinician, Institution: "h2", User: "dr.wang"},
		// Another hospital's dr.li: same user name as clin, other token.
		"li2":  {Role: auth.RoleClinician, Institution: "h2", User: "dr.li"},
		"patA": {Role: auth.RolePatient, User: "pat-a", PersonKey: pkA},
	} {
		clear, _, err := toks.Create(context.Background(), p, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = clear
	}
	for _, st := range studies {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		body, ct := gwtest.Multipart(gwtest.FileParts(t, paths...))
		if resp, b := e.do(t, "POST", "/dicomweb/studies", "pacs", nil, map[string]string{"Content-Type": ct}, body); resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, b)
		}
	}
	if len(extraPaths) > 0 {
		body, ct := gwtest.Multipart(gwtest.FileParts(t, extraPaths...))
		if resp, b := e.do(t, "POST", "/dicomweb/studies", "pacs", nil, map[string]string{"Content-Type": ct}, body); resp.StatusCode != 200 {
			t.Fatalf("STOW of the extra study: %d %s", resp.StatusCode, b)
		}
	}
	return e
}

// client does not follow redirects, so tests see each answer and its cookie.
var client = &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request with the named token (or none) and cookies.
func (e *env) do(t *testing.T, method, path, who string, cookies []*http.Cookie, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = e.url + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// created is the create answer.
type created struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
	QRPNG   string    `json:"qr_png"`
	QRSVG   string    `json:"qr_svg"`
	Uses    int       `json:"uses"`
	HasPIN  bool      `json:"has_pin"`
}

// create makes a share as who, failing the test unless it answers 201.
func (e *env) create(t *testing.T, who string, req map[string]any) created {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, body := e.do(t, "POST", "/api/v1/shares", who, nil, map[string]string{"Content-Type": "application/json"}, b)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create share as %s: %d %s", who, resp.StatusCode, body)
	}
	var c created
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// open posts the landing form and returns the answer and the session
// cookie (nil when none was set).
func (e *env) open(t *testing.T, link, pin string) (*http.Response, []byte, *http.Cookie) {
	t.Helper()
	form := url.Values{}
	if pin != "" {
		form.Set("pin", pin)
	}
	resp, body := e.do(t, "POST", link+"/open", "", nil, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form.Encode()))
	for _, c := range resp.Cookies() {
		if c.Name == shareapi.CookieName {
			return resp, body, c
		}
	}
	return resp, body, nil
}

// events returns the audit trail.
func (e *env) events(t *testing.T) []audit.Event {
	t.Helper()
	resp, b := e.do(t, "GET", "/api/v1/admin/audit", "admin", nil, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("audit: %d %s", resp.StatusCode, b)
	}
	var out []audit.Event
	for _, ln := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev audit.Event
		if err := json.Unmarshal([]byte(ln), &ev); err != nil {
			t.Fatalf("audit line %q: %v", ln, err)
		}
		out = append(out, ev)
	}
	return out
}

// hasEvent reports whether an event of action with detail containing
// substr (and outcome status, when non-zero) was recorded.
func hasEvent(evs []audit.Event, action, substr string, status int) bool {
	for _, ev := range evs {
		if ev.Action == action && strings.Contains(ev.Detail, substr) && (status == 0 || ev.Outcome == status) {
			return true
		}
	}
	return false
}
