package shareapi_test

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

// chromium returns Debian's Chromium; without it the test skips loudly,
// and fails with CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_BIN"), "/usr/lib/chromium/chromium"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := "Chromium not found at /usr/lib/chromium/chromium (set CHROMIUM_BIN, or run scripts/chromium.sh): share browser test NOT RUN"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Log("SKIPPING: " + msg)
	t.Skip(msg)
	return ""
}

// pageErrors collects console errors, exceptions, failed requests and
// answers of 400 or more.
type pageErrors struct {
	mu   sync.Mutex
	urls map[network.RequestID]string
	list []string
}

func (p *pageErrors) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.list = append(p.list, "console.error: "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		p.list = append(p.list, fmt.Sprintf("exception: %s", ev.ExceptionDetails.Text))
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			p.list = append(p.list, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.urls[ev.RequestID] = ev.Request.URL
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			p.list = append(p.list, "request failed: "+p.urls[ev.RequestID]+" "+ev.ErrorText)
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			p.list = append(p.list, fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL))
		}
	}
}

func (p *pageErrors) check(t *testing.T, when string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Errorf("%s: %s", when, s)
	}
	p.list = nil
}

// TestPhoneOpensLink opens a share link as a patient would: a phone-sized
// Chromium loads the landing page, the PIN is typed, Open tapped, and the
// viewer must show the study's image, with no console error or failed
// request on the way.
func TestPhoneOpensLink(t *testing.T) {
	exec := chromium(t)
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID, "pin": "5731", "download": true})

	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec), chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache")),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	p := &pageErrors{urls: map[network.RequestID]string{}}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what, cond string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
			if err == nil {
				return
			}
			if time.Now().After(deadline) || !strings.Contains(err.Error(), "context") && !strings.Contains(err.Error(), "navigated") {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eval := func(expr string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	// shot saves a screenshot when VIEWER_SCREENSHOTS names a folder.
	shot := func(name string) {
		t.Helper()
		d := os.Getenv("VIEWER_SCREENSHOTS")
		if d == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	do("phone viewport", chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	do("landing", chromedp.Navigate(c.URL))
	wait("landing page", `document.querySelector("form button") !== null && document.getElementById("pin") !== null`)
	if w := eval(`document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the landing page is %v px wide on a 375 px screen", w)
	}
	shot("share-landing-375x667")
	p.check(t, "landing")

	do("type the PIN and open", chromedp.SendKeys("#pin", "5731"), chromedp.Click("form button"))
	wait("the viewer's first image", `location.pathname.endsWith("/share.html") && document.getElementById("viewport")?.dataset.loaded === "1" && document.getElementById("image")?.naturalWidth > 0`)
	wait("series thumbnails", `document.querySelectorAll(".series-item img.loaded").length > 0 && [...document.querySelectorAll(".series-item img.loaded")].every(i => i.naturalWidth > 0)`)
	wait("the download link", `!document.getElementById("share-download").hidden`)
	if eval(`document.getElementById("image").naturalWidth`) <= 0 {
		t.Error("no image")
	}
	if w := eval(`document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the viewer is %v px wide on a 375 px screen", w)
	}
	if n := eval(`document.cookie.length`); n != 0 {
		t.Errorf("the session cookie is readable by scripts (%v bytes)", n)
	}
	p.check(t, "viewer")
	shot("share-viewer-375x667")
	_, b := e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
	if !strings.Contains(string(b), `"uses":1`) {
		t.Errorf("the browser's visit did not count exactly one use: %s", b)
	}
}
