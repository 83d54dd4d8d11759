package recognitionapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/recognition"
)

// pushRecognisable stores the corpus's studies of a Jiangsu and a
// Shanghai hospital and returns a CT that Zhejiang (fahzu) may recognise.
func pushRecognisable(t *testing.T, gw *gwtest.Gateway) string {
	t.Helper()
	man := generate(t)
	idOf := holder(t)
	ct := ""
	var pushed []string
	for _, st := range man.Studies() {
		if h := idOf(st.InstitutionName); h != "jsph" && h != "zsh-fdu" {
			continue
		}
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != http.StatusOK {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		if st.Series[0].Modality == "CT" {
			pushed = append(pushed, st.StudyUID)
		}
	}
	for _, study := range pushed {
		var ans struct{ Tag recognition.Tag }
		if call(t, gw, http.MethodGet, "/recognition/studies/"+study+"?institution=fahzu", nil, &ans); ct == "" && ans.Tag.Recognised() {
			ct = study
		}
	}
	if ct == "" {
		t.Fatal("no recognisable CT for fahzu in the corpus")
	}
	return ct
}

// as sends a JSON request as the principal "role/institution/user" (see
// headerPrincipal) with extra headers, and decodes a 2xx answer into out.
func as(t *testing.T, gw *gwtest.Gateway, who, method, path string, hdr map[string]string, body, out any) (int, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json", "X-Test-Principal": who}
	for k, v := range hdr {
		h[k] = v
	}
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	resp, ans := gwtest.Do(t, method, gw.Srv.URL+"/api/v1"+path, h, bytes.NewReader(b))
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(ans, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, ans)
		}
	}
	return resp.StatusCode, string(ans)
}

// TestDecisionsOverHTTP: a clinician's decisions are signed by the
// principal (a physician in the body is refused), carry an order number,
// and a later decision on the same order supersedes the earlier one in
// the statistics; texts follow Accept-Language, Chinese by default.
func TestDecisionsOverHTTP(t *testing.T) {
	gw := startGateway(t)
	ct := pushRecognisable(t, gw)
	const doc = "clinician/fahzu/王医生"
	total := func() recognition.StatsRow {
		t.Helper()
		var st recognition.Stats
		if code, body := as(t, gw, doc, "GET", "/recognition/statistics?by=institution", nil, nil, &st); code != 200 {
			t.Fatalf("statistics: %d %s", code, body)
		}
		return st.Total
	}
	decide := func(body map[string]string, want int) recognition.Decision {
		t.Helper()
		var d recognition.Decision
		if code, ans := as(t, gw, doc, "POST", "/recognition/decisions", nil, body, &d); code != want {
			t.Fatalf("decide %v: %d %s, want %d", body, code, ans, want)
		}
		return d
	}

	if _, ans := as(t, gw, doc, "POST", "/recognition/decisions", nil, map[string]string{"study": ct, "order": "MZ-7", "physician": "张医生", "outcome": "accept"}, nil); !strings.Contains(ans, "credentials") {
		t.Errorf("a physician in the body: %s", ans)
	}
	decide(map[string]string{"study": ct, "order": "MZ-7", "physician": "张医生", "outcome": "accept"}, 400)
	decide(map[string]string{"study": ct, "outcome": "accept"}, 400)
	d := decide(map[string]string{"study": ct, "order": "MZ-7", "outcome": "accept"}, 201)
	if d.Physician != "王医生" || d.Institution != "fahzu" || d.Order != "MZ-7" || d.OutcomeText != "认可（不再重复检查）" {
		t.Errorf("decision %+v", d)
	}
	decide(map[string]string{"study": ct, "order": "MZ-7", "outcome": "accept"}, 201)
	if got := total(); got.Recognised != 1 || got.SavedYuan != d.PriceYuan {
		t.Errorf("accepted twice: %+v, want one exam saved (%v yuan)", got, d.PriceYuan)
	}
	r := decide(map[string]string{"study": ct, "order": "MZ-7", "outcome": "refuse", "reason": "image_quality"}, 201)
	if r.ReasonText != "图像质量不满足诊断要求" {
		t.Errorf("reason text %q", r.ReasonText)
	}
	if got := total(); got.Recognised != 0 || got.Refused != 1 || got.SavedYuan != 0 {
		t.Errorf("refused after two accepts: %+v, want the refusal alone", got)
	}
	var hist struct{ Decisions []recognition.Decision }
	as(t, gw, doc, "GET", "/recognition/decisions?study="+ct, map[string]string{"Accept-Language": "en-GB,en;q=0.9"}, nil, &hist)
	if len(hist.Decisions) != 3 || hist.Decisions[2].SupersededBy != "" || hist.Decisions[1].SupersededBy != r.ID || hist.Decisions[2].ReasonText != "Image quality not sufficient" {
		t.Errorf("history %+v", hist.Decisions)
	}

	// Texts: Chinese by default, English when asked for, for a tag that
	// does not count (Beijing is outside the Yangtze River Delta).
	for _, c := range []struct{ accept, status, reason, refusal string }{
		{"", "不在互认区域内", "不属于", "病情变化或急诊"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "不在互认区域内", "不属于", "病情变化或急诊"},
		{"en-US,en;q=0.9,zh;q=0.5", "Outside the recognition region", "belongs to none", "The condition changed, or an emergency"},
		{"fr, en;q=0.5", "Outside the recognition region", "belongs to none", "The condition changed, or an emergency"},
	} {
		var ans struct {
			Tag            recognition.Tag
			RefusalReasons []recognition.RefusalReason `json:"refusal_reasons"`
			Holding        string                      `json:"holding_institution_name"`
		}
		as(t, gw, "clinician/pumch/dr", "GET", "/recognition/studies/"+ct, map[string]string{"Accept-Language": c.accept}, nil, &ans)
		if ans.Tag.StatusText != c.status || !strings.Contains(ans.Tag.Reason, c.reason) || len(ans.RefusalReasons) != 4 || ans.RefusalReasons[0].Text != c.refusal || ans.Holding == "" {
			t.Errorf("Accept-Language %q: %+v", c.accept, ans)
		}
	}
	// The refusal of a decision on that tag says why in both languages.
	if code, ans := as(t, gw, "clinician/pumch/dr", "POST", "/recognition/decisions", nil, map[string]string{"study": ct, "order": "1", "outcome": "accept"}, nil); code != 409 || !strings.Contains(ans, "不属于") || !strings.Contains(ans, "belongs to none") {
		t.Errorf("decision outside the region: %d %s", code, ans)
	}
}
