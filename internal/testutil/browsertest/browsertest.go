// Package browsertest drives Debian's headless Chromium from Go tests
// (chromedp): it finds the browser, starts it off the network, and collects
// everything a page must not do (console errors, exceptions, failed
// requests, answers of 400 or more).
package browsertest

import (
	"context"
	"fmt"
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
)

// Chromium returns Debian's Chromium binary (or $CHROMIUM_BIN). Without it
// the test skips, loudly; with CI=true it fails instead (scripts/chromium.sh
// installs it).
func Chromium(t *testing.T) string {
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

// Problems collects what must not happen in a page: console errors, JS
// exceptions, failed requests and answers of 400 or more, except for URLs
// a test allows.
type Problems struct {
	mu       sync.Mutex
	list     []string
	allowed  []string
	urls     map[network.RequestID]string
	requests []string
}

// Allow ignores problems of URLs containing substr.
func (p *Problems) Allow(substr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed = append(p.allowed, substr)
}

func (p *Problems) add(url, format string, args ...any) {
	for _, a := range p.allowed {
		if url != "" && strings.Contains(url, a) {
			return
		}
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// listen is a chromedp listener; it must return fast and not block.
func (p *Problems) listen(ev any) {
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

// Check fails the test with every problem seen so far and forgets them.
func (p *Problems) Check(t *testing.T, when string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Errorf("%s: %s", when, s)
	}
	p.list = nil
}

// SawRequest reports whether a request URL containing substr was sent.
func (p *Problems) SawRequest(substr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.requests {
		if strings.Contains(u, substr) {
			return true
		}
	}
	return false
}

// New starts a headless Chromium off the network (the flags of NOTES.md,
// a fresh profile and XDG dirs in a temp dir, a 1280x800 window) and
// returns a tab context whose events go to p. It stops with the test.
func New(t *testing.T, exec string, p *Problems) context.Context {
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
	p.mu.Lock()
	p.urls = map[network.RequestID]string{}
	p.mu.Unlock()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// Screenshot saves the visible page as name.png in dir (if not empty) and,
// when VIEWER_SCREENSHOTS is set, in that folder too (to look at them).
func Screenshot(t *testing.T, ctx context.Context, dir, name string) {
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

// Wait polls a JavaScript condition for up to 30 s. A page that is being
// replaced (after a click on a link or a form) ends the poll with a lost
// context error; Wait polls again in the new page.
func Wait(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "context") && !strings.Contains(err.Error(), "navigated") {
			t.Fatalf("waiting for %s (%s): %v", what, cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eval evaluates a JavaScript expression.
func Eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Network is a throttled network for Chromium's emulation: every request
// waits Latency before its answer's headers, and bodies flow at most at
// Down (and Up) bytes a second, shared by all requests.
type Network struct {
	Latency  time.Duration
	Down, Up float64 // bytes per second
}

// Slow3G is the slow mobile profile of the viewer's goals: 400 ms round
// trips and 400 kbit/s each way.
var Slow3G = Network{Latency: 400 * time.Millisecond, Down: 400e3 / 8, Up: 400e3 / 8}

// Throttle makes the tab's network n from now on (also across
// navigations); the zero Network ends the throttling.
func Throttle(t *testing.T, ctx context.Context, n Network) {
	t.Helper()
	c := &network.Conditions{Latency: float64(n.Latency.Milliseconds()), DownloadThroughput: n.Down, UploadThroughput: n.Up}
	if n == (Network{}) {
		c.DownloadThroughput, c.UploadThroughput = -1, -1
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{c},
	}); err != nil {
		t.Fatalf("throttle the network: %v", err)
	}
}
