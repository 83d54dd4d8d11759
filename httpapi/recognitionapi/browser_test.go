package recognitionapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/records"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// TestClinicianDecidesInViewer: on a phone-sized Chromium, a clinician of
// Zhejiang (fahzu) taps the stamp of a recognisable CT, sees the item,
// holding hospital, valid-until and price, accepts it for an order twice
// (the statistics count one exam saved), then refuses it with a reason
// (the refusal replaces the accept: nothing is added), and prints the
// statement. The gateway is assembled as serve does: real tokens, the
// route policy, the recognition and admin APIs, the viewer.
func TestClinicianDecidesInViewer(t *testing.T) {
	exec := browsertest.Chromium(t)
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	rec := records.New(store, db)
	ctx := context.Background()
	svc, err := recognition.New(ctx, db, rec, recognition.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := recognition.ExampleRegistry()
	cat, _ := recognition.DefaultCatalogue()
	if err := svc.Import(ctx, reg, cat); err != nil {
		t.Fatal(err)
	}
	toks := auth.NewTokens(rec, nil)
	policy, err := server.Policy(access.Prefix(server.APIRoot, adminapi.AccessRules), access.Prefix(server.APIRoot, recognitionapi.AccessRules))
	if err != nil {
		t.Fatal(err)
	}
	arc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{},
		Annotators: []archive.Annotator{svc}, Observers: []archive.Observer{svc}})
	srv := httptest.NewServer(server.New(arc, server.Options{
		Access: guard.Middleware(guard.Options{Auth: &auth.Authenticator{Tokens: toks}, Policy: policy}),
		Viewer: viewerstatic.FS(), Middleware: []echo.MiddlewareFunc{recognitionapi.Asking},
		API: []func(*echo.Group){(&adminapi.API{Tokens: toks}).Register,
			func(g *echo.Group) {
				recognitionapi.Register(g, svc, recognitionapi.Options{Now: func() time.Time { return now }})
			}},
	}))
	t.Cleanup(srv.Close)
	token := func(p auth.Principal) string {
		clear, _, err := toks.Create(ctx, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		return clear
	}
	admin := token(auth.Principal{Role: auth.RoleAdmin, User: "ops"})
	clin := token(auth.Principal{Role: auth.RoleClinician, Institution: "fahzu", User: "王医生"})

	// Store the corpus as an admin (attributed by institution name) and
	// pick a CT that fahzu may recognise.
	man := generate(t)
	var tag recognition.Tag
	for _, st := range man.Studies() {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		body, ct := gwtest.Multipart(gwtest.FileParts(t, paths...))
		if code, b := send(t, srv.URL, admin, "POST", "/dicomweb/studies", ct, body, nil); code != 200 {
			t.Fatalf("STOW: %d %s", code, b)
		}
		var ans struct{ Tag recognition.Tag }
		send(t, srv.URL, clin, "GET", "/api/v1/recognition/studies/"+st.StudyUID, "", nil, &ans)
		if tag.Study == "" && ans.Tag.Recognised() && st.Series[0].Modality == "CT" {
			tag = ans.Tag
		}
	}
	if tag.Study == "" {
		t.Fatal("no recognisable CT for fahzu")
	}
	total := func() recognition.StatsRow {
		t.Helper()
		var st recognition.Stats
		if code, b := send(t, srv.URL, clin, "GET", "/api/v1/recognition/statistics?by=item", "", nil, &st); code != 200 {
			t.Fatalf("statistics: %d %s", code, b)
		}
		return st.Total
	}

	var p browsertest.Problems
	bctx := browsertest.New(t, exec, &p)
	bctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what, cond string) { t.Helper(); browsertest.Wait(t, bctx, what, cond) }
	text := func(sel string) string {
		t.Helper()
		return browsertest.Eval[string](t, bctx, `document.querySelector(`+strconv.Quote(sel)+`)?.innerText || ""`)
	}

	do("phone", chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/favicon.svg"))
	browsertest.Eval[any](t, bctx, `sessionStorage.setItem("imgcloud.token", `+strconv.Quote(clin)+`)`)
	do("study page", chromedp.Navigate(srv.URL+"/study.html?studyUID="+tag.Study))
	wait("first image", `document.getElementById("viewport")?.dataset.loaded === "1"`)
	wait("the stamp", `document.querySelector("#stamp .stamp.badge-recognised") !== null && document.getElementById("recognition-button") !== null`)
	do("tap the stamp", chromedp.Click("#stamp .stamp"))
	wait("the decision form", `document.getElementById("recognition-dialog")?.open && document.getElementById("decide-form") !== null`)
	facts := text(".rec-facts")
	for _, want := range []string{tag.Item, tag.ItemName, tag.ValidUntil, "¥" + strconv.FormatFloat(tag.PriceYuan, 'f', -1, 64), "持有机构"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the dialog's facts %q lack %q", facts, want)
		}
	}
	if got := browsertest.Eval[string](t, bctx, `document.querySelector("#stamp .stamp").title`); !strings.Contains(got, "可互认") || !strings.Contains(got, "Recognised") {
		t.Errorf("the stamp's hover text %q", got)
	}
	if w := browsertest.Eval[float64](t, bctx, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the page is %v px wide with the dialog open on a 375 px screen", w)
	}
	browsertest.Screenshot(t, bctx, "", "decide-375x667")

	// Accept, twice (a double tap): one exam saved.
	do("type the order", chromedp.SendKeys(`#decide-form input[name="order"]`, "MZ-2026-0042"))
	for i := 1; i <= 2; i++ {
		do("accept", chromedp.Click(`#decide-form button.accept`))
		wait(fmt.Sprintf("accept %d saved", i), `document.getElementById("recognition-dialog").dataset.saved === "`+strconv.Itoa(i)+`"`)
		if i == 1 {
			do("type the order again", chromedp.SendKeys(`#decide-form input[name="order"]`, "MZ-2026-0042"))
		}
	}
	if got := total(); got.Recognised != 1 || got.Refused != 0 || got.SavedYuan != tag.PriceYuan {
		t.Errorf("after two accepts from the viewer: %+v, want 1 recognised, %v yuan saved", got, tag.PriceYuan)
	}
	// Refuse with a reason: it supersedes the accept.
	do("refuse with a reason",
		chromedp.SendKeys(`#decide-form input[name="order"]`, "MZ-2026-0042"),
		chromedp.Click(`#decide-form input[value="image_quality"]`),
		chromedp.Click(`#decide-form button.refuse`))
	wait("refusal saved", `document.getElementById("recognition-dialog").dataset.saved === "3"`)
	if got := total(); got.Recognised != 0 || got.Refused != 1 || got.SavedYuan != 0 || got.RefusalsByReason["image_quality"] != 1 {
		t.Errorf("after the refusal from the viewer: %+v, want it to replace the accept", got)
	}
	cur := text(".current-decisions")
	if !strings.Contains(cur, "MZ-2026-0042") || !strings.Contains(cur, "不认可") || !strings.Contains(cur, "图像质量") || strings.Contains(cur, "认可（") {
		t.Errorf("current decisions in the dialog: %q", cur)
	}
	p.Check(t, "deciding")

	// The statement of the current decision, for the medical record.
	href := browsertest.Eval[string](t, bctx, `document.querySelector(".current-decisions a.statement-link").href`)
	do("statement", chromedp.Navigate(href))
	wait("statement", `document.body.dataset.ready === "1"`)
	st := text("#statement")
	for _, want := range []string{tag.Study, tag.ItemName, "王医生", "MZ-2026-0042", "不认可", "图像质量", "浙江大学医学院附属第一医院", now.Format("2006-01-02")} {
		if !strings.Contains(st, want) {
			t.Errorf("the statement %q lacks %q", st, want)
		}
	}
	if strings.Contains(text("#statement-status"), "取代") {
		t.Error("the current decision's statement says it was superseded")
	}
	if w := browsertest.Eval[float64](t, bctx, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the statement is %v px wide on a 375 px screen", w)
	}
	browsertest.Screenshot(t, bctx, "", "statement-375x667")
	p.Check(t, "statement")

	// A Beijing clinician: the stamp says why the result does not count
	// there, in Chinese and English, and offers no decision.
	bj := token(auth.Principal{Role: auth.RoleClinician, Institution: "pumch", User: "dr.zhao"})
	browsertest.Eval[any](t, bctx, `sessionStorage.setItem("imgcloud.token", `+strconv.Quote(bj)+`)`)
	do("study page in Beijing", chromedp.Navigate(srv.URL+"/study.html?studyUID="+tag.Study))
	wait("the stamp in Beijing", `document.querySelector("#stamp .stamp.badge-outside-region") !== null`)
	// Hover (a mouse over the stamp): the note says why, without a tap.
	box := browsertest.Eval[[]float64](t, bctx, `(() => { const r = document.querySelector("#stamp .stamp").getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	do("hover the stamp", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1]))
	wait("the note on hover", `(() => { const w = document.querySelector("#stamp .stamp-why"); return w && getComputedStyle(w).display !== "none" && w.innerText.includes("不属于") && w.innerText.includes("belongs to none"); })()`)
	// Seen: the note's centre is on screen and not covered.
	if !browsertest.Eval[bool](t, bctx, `(() => { const w = document.querySelector("#stamp .stamp-why"), r = w.getBoundingClientRect();
		const x = r.x + r.width / 2, y = r.y + r.height / 2;
		return r.height > 0 && x > 0 && x < innerWidth && y > 0 && y < innerHeight && w.contains(document.elementFromPoint(x, y)); })()`) {
		t.Error("the hover note is off screen or covered")
	}
	browsertest.Screenshot(t, bctx, "", "stamp-hover-375x667")
	do("tap the stamp", chromedp.Click("#stamp .stamp"))
	wait("the reason", `document.querySelector("#recognition-dialog .rec-reason") !== null`)
	why := text(".rec-reason")
	if !strings.Contains(why, "不属于") || !strings.Contains(why, "belongs to none") || !strings.Contains(text("#recognition-dialog"), "不在互认区域内") {
		t.Errorf("the reason in the dialog: %q", why)
	}
	if browsertest.Eval[bool](t, bctx, `document.getElementById("decide-form") !== null`) {
		t.Error("a decision form on a result that does not count")
	}
	p.Check(t, "outside the region")
}

// send makes a request with a bearer token and decodes a 2xx JSON answer.
func send(t *testing.T, base, token, method, path, contentType string, body []byte, out any) (int, string) {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + token}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	resp, b := gwtest.Do(t, method, base+path, h, bytes.NewReader(body))
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, string(b)
}
