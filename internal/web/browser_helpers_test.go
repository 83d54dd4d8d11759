package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/gwtest"
	"github.com/imgcloud/gateway/internal/server"
	"github.com/imgcloud/gateway/storage/file"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// chromiumPath returns Debian's Chromium binary. Without it the browser
// tests skip, loudly; with CI=true they fail instead (scripts/chromium.sh
// installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_BIN"), "/usr/lib/chromium/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "Chromium not found at /usr/lib/chromium/chromium (set CHROMIUM_BIN, or run scripts/chromium.sh): browser tests NOT RUN"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Log("SKIPPING: " + msg)
	t.Skip(msg)
	return ""
}

// viewerGateway is a gateway with the viewer and a loaded corpus.
type viewerGateway struct {
	URL     string // site root, e.g. http://127.0.0.1:PORT
	phantom *corpus.Manifest
	derived *corpus.Manifest
	// recognised marks studies as recognised (互认) in QIDO answers.
	recognised *recognitionStub
}

// recognitionStub stands in for the recognition service: it adds the
// private block the viewer reads (creator "IMGCLOUD RECOGNITION" in group
// 0011) to the studies it was told about.
type recognitionStub struct {
	mu    sync.Mutex
	study map[string]bool
}

func (r *recognitionStub) mark(study string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.study == nil {
		r.study = map[string]bool{}
	}
	r.study[study] = true
}

// AnnotateStudy implements archive.Annotator.
func (r *recognitionStub) AnnotateStudy(_ context.Context, st *index.Study) dcm.Dataset {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.study[st.UID] {
		return nil
	}
	return dcm.Dataset{
		"00110010": {VR: "LO", Value: []any{"IMGCLOUD RECOGNITION"}},
		"00111001": {VR: "CS", Value: []any{"RECOGNISED"}},
		"00111002": {VR: "LO", Value: []any{"CT-HEAD-01"}},
		"00111003": {VR: "LO", Value: []any{"头颅CT平扫"}},
		"00111004": {VR: "DA", Value: []any{"20261231"}},
	}
}

func startViewerGateway(t *testing.T) *viewerGateway {
	t.Helper()
	dir := t.TempDir()
	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recognitionStub{}
	svc := archive.New(store, db, archive.Options{TempDir: dir, Annotators: []archive.Annotator{rec}})
	srv := httptest.NewServer(server.New(svc, server.Options{Viewer: viewerstatic.FS()}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	gw := &viewerGateway{URL: srv.URL, recognised: rec}
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if gw.phantom, err = corpus.Phantom(filepath.Join(dir, "phantom"), corpus.PhantomOptions{Studies: 3, Slices: 12, Seed: 11, Today: today}); err != nil {
		t.Fatal(err)
	}
	// Two big studies from real files: the MONOCHROME1 CR and the
	// two-frame CT.
	if gw.derived, err = corpus.Generate(filepath.Join(dir, "derived"), corpus.Options{Studies: 2, Big: 2, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 5, Today: today}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*corpus.Manifest{gw.phantom, gw.derived} {
		for _, st := range m.Studies() {
			var paths []string
			for _, f := range st.Files() {
				paths = append(paths, filepath.Join(m.Dir, f.Path))
			}
			if resp, body := gwtest.Stow(t, srv.URL+"/dicomweb/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
		}
	}
	return gw
}

// problems collects what must not happen in a page: console errors, JS
// exceptions, failed requests and answers of 400 or more, except for URLs
// a test allows.
type problems struct {
	mu       sync.Mutex
	list     []string
	allowed  []string
	urls     map[network.RequestID]string
	requests []string
}

func (p *problems) allow(substr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed = append(p.allowed, substr)
}

func (p *problems) add(url, format string, args ...any) {
	for _, a := range p.allowed {
		if url != "" && strings.Contains(url, a) {
			return
		}
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// listen is a chromedp listener; it must return fast and not block.
func (p *problems) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.add("", "console.%s: %s", ev.Type, strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		desc := d.Text
		if d.Exception != nil {
			desc += " " + d.Exception.Description
		}
		p.add("", "exception at %s:%d: %s", d.URL, d.LineNumber, desc)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			p.add(ev.Entry.URL, "log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.urls[ev.RequestID] = ev.Request.URL
		p.requests = append(p.requests, ev.Request.URL)
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			u := p.urls[ev.RequestID]
			p.add(u, "request failed: %s %s", u, ev.ErrorText)
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			p.add(ev.Response.URL, "HTTP %d for %s", ev.Response.Status, ev.Response.URL)
		}
	}
}

// check fails the test with every problem seen so far and forgets them.
func (p *problems) check(t *testing.T, when string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Errorf("%s: %s", when, s)
	}
	p.list = nil
}

// sawRequest reports whether a request URL containing substr was sent.
func (p *problems) sawRequest(substr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.requests {
		if strings.Contains(u, substr) {
			return true
		}
	}
	return false
}

// newBrowser starts a headless Chromium off the network (NOTES.md flags,
// fresh profile and XDG dirs in a temp dir) and returns a tab context whose
// events go to p.
func newBrowser(t *testing.T, exec string, p *problems) context.Context {
	t.Helper()
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache")),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p.urls = map[network.RequestID]string{}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// screenshot saves the visible page as name.png in dir and, when
// VIEWER_SCREENSHOTS is set, in that folder too (to look at them).
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, d := range []string{dir, os.Getenv("VIEWER_SCREENSHOTS")} {
		if d == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wait polls a JavaScript condition for up to 20 s. A page that is being
// replaced (after a click on a link) ends the poll with a lost context
// error; wait polls again in the new page.
func wait(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := time.Until(deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(left)))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "context") {
			t.Fatalf("waiting for %s (%s): %v", what, cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
