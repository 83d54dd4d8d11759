package shareapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/internal/testutil/browsertest"
)

// TestPhoneOpensLink opens a share link as a patient would: a phone-sized
// Chromium loads the landing page, the PIN is typed, Open tapped, and the
// viewer must show the study's image, with no console error or failed
// request on the way. The pages speak to a patient: the landing page
// names the hospital and the exam, the viewer has plain controls with
// gesture hints, no recognition stamp (study A's has expired), and says
// how big the download is.
func TestPhoneOpensLink(t *testing.T) {
	exec := browsertest.Chromium(t)
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID, "pin": "5731", "download": true})

	var p browsertest.Problems
	ctx := browsertest.New(t, exec, &p)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what, cond string) { t.Helper(); browsertest.Wait(t, ctx, what, cond) }
	eval := func(expr string) float64 { t.Helper(); return browsertest.Eval[float64](t, ctx, expr) }
	shot := func(name string) { t.Helper(); browsertest.Screenshot(t, ctx, "", name) }

	do("phone viewport", chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	do("landing", chromedp.Navigate(c.URL))
	wait("landing page", `document.querySelector("form button") !== null && document.getElementById("pin") !== null`)
	exam := browsertest.Eval[map[string]string](t, ctx, `Object.fromEntries(["hospital", "description", "date"].map(k => [k, document.getElementById("exam-" + k)?.textContent || ""]))`)
	_, qido := e.do(t, "GET", "/dicomweb/studies?StudyInstanceUID="+e.a.StudyUID+"&includefield=00081030", "clin", nil, nil, nil)
	if exam["hospital"] != e.a.InstitutionName || exam["description"] == "" || !strings.Contains(string(qido), `"`+exam["description"]+`"`) ||
		exam["date"] != e.a.StudyDate[:4]+"-"+e.a.StudyDate[4:6]+"-"+e.a.StudyDate[6:] {
		t.Errorf("the landing page names the exam %v, want %s, %s and the description in %s", exam, e.a.InstitutionName, e.a.StudyDate, qido)
	}
	if w := eval(`document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the landing page is %v px wide on a 375 px screen", w)
	}
	shot("share-landing-375x667")
	p.Check(t, "landing")

	// A mistyped PIN first: the page says so (403, the one failed request
	// allowed) and its form still works.
	p.Allow(c.URL + "/open")
	do("type a wrong PIN and open", chromedp.SendKeys("#pin", "1111"), chromedp.Click("form button"))
	wait("the wrong-PIN page", `document.body.innerText.includes("访问码错误") && document.getElementById("pin") !== null`)
	shot("share-wrong-pin-375x667")
	do("type the PIN and open", chromedp.SendKeys("#pin", "5731"), chromedp.Click("form button"))
	wait("the viewer's first image", `location.pathname.endsWith("/share.html") && document.getElementById("viewport")?.dataset.loaded === "1" && document.getElementById("image")?.naturalWidth > 0`)
	wait("series thumbnails", `document.querySelectorAll(".series-item img.loaded").length > 0 && [...document.querySelectorAll(".series-item img.loaded")].every(i => i.naturalWidth > 0)`)
	wait("the download link", `!document.getElementById("share-download").hidden`)
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("share-download").textContent`); !strings.Contains(got, " MB)") {
		t.Errorf("the download link does not say its size: %q", got)
	}
	page := browsertest.Eval[string](t, ctx, `document.body.innerText`)
	for _, bad := range []string{"互认", "Expired", "W/L", "标签 Tags", "下载 DICOM"} {
		if strings.Contains(page, bad) {
			t.Errorf("the patient's viewer shows %q", bad)
		}
	}
	for _, hint := range []string{"滑动翻页", "双指缩放", "亮度/对比度"} {
		if !strings.Contains(page, hint) {
			t.Errorf("the patient's viewer has no hint %q", hint)
		}
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector(".stamp, #stamp") !== null`) {
		t.Error("the share viewer shows a recognition stamp")
	}
	if eval(`document.getElementById("image").naturalWidth`) <= 0 {
		t.Error("no image")
	}
	if w := eval(`document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the viewer is %v px wide on a 375 px screen", w)
	}
	if n := eval(`document.cookie.length`); n != 0 {
		t.Errorf("the session cookie is readable by scripts (%v bytes)", n)
	}
	p.Check(t, "viewer")
	shot("share-viewer-375x667")
	_, b := e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
	if !strings.Contains(string(b), `"uses":1`) {
		t.Errorf("the browser's visit did not count exactly one use: %s", b)
	}
}

// TestViewerIgnoresFragmentToken: a viewer link carrying a clinician's
// token in its fragment (#token=, token fixation) does not sign the
// browser in: the viewer asks for a token, stores none and shows no image.
func TestViewerIgnoresFragmentToken(t *testing.T) {
	exec := browsertest.Chromium(t)
	e := start(t)
	var p browsertest.Problems
	p.Allow("/dicomweb/") // the 401s of a viewer without a token
	ctx := browsertest.New(t, exec, &p)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/study.html?studyUID="+e.a.StudyUID+"#token="+e.tokens["clin"])); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(t, ctx, "the token dialog", `document.getElementById("token-dialog")?.open === true`)
	// The prompt explains itself (issue 17): what a token is and where to
	// get one, never the server's "unauthenticated: no credentials".
	browsertest.Wait(t, ctx, "the status line", `document.getElementById("viewer-status")?.textContent !== "" && !document.getElementById("viewer-status").textContent.includes("载入中")`)
	dialog := browsertest.Eval[string](t, ctx, `document.getElementById("token-dialog").innerText`)
	for _, want := range []string{"请登录", "Sign in", "访问令牌是", "gateway token create", "分享链接"} {
		if !strings.Contains(dialog, want) {
			t.Errorf("the sign-in prompt does not say %q: %q", want, dialog)
		}
	}
	if page := browsertest.Eval[string](t, ctx, `document.body.innerText`); strings.Contains(page, "unauthenticated") || strings.Contains(page, "no credentials") {
		t.Errorf("the viewer shows the raw 401: %q", page)
	}
	browsertest.Screenshot(t, ctx, "", "sign-in-1280x800")
	if got := browsertest.Eval[string](t, ctx, `JSON.stringify(Object.keys(sessionStorage))`); got != "[]" {
		t.Errorf("session storage after a #token= link: %s", got)
	}
	if browsertest.Eval[bool](t, ctx, `(document.getElementById("image")?.naturalWidth || 0) > 0`) {
		t.Error("the viewer showed an image with the fragment's token")
	}
}
