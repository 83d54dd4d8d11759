package shareapi_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	_ "image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/imgcloud/gateway/internal/corpus"
)

// decodeQR reads a QR code PNG back to its text with a real decoder
// (gozxing, a port of ZXing), independent of the encoder used.
func decodeQR(t *testing.T, png []byte) string {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatalf("QR PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// A phone's reader looks hard; so does this one (ZXing's default
	// finder pattern search misses about one code in fifty of these).
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		res, err = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}

// wadoPaths are every WADO route for one instance of a study: view
// routes first, then download routes.
func wadoPaths(st corpus.Study) (view, download []string) {
	f := st.Series[0].Files[0]
	s := "/dicomweb/studies/" + f.StudyUID
	se := s + "/series/" + f.SeriesUID
	in := se + "/instances/" + f.SOPUID
	view = []string{
		"/dicomweb/studies?StudyInstanceUID=" + f.StudyUID,
		s + "/series", s + "/metadata", se + "/metadata", in + "/metadata",
		in + "/frames/1", in + "/rendered", se + "/thumbnail", s + "/thumbnail",
		"/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + "&contentType=image/jpeg",
	}
	download = []string{
		s, se, in, in + "/bulkdata/7fe00010",
		"/dicomweb/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + "&contentType=application/dicom",
		"/api/v1/shares/session/study.zip",
		// No contentType: the default may be DICOM (objects without
		// pixel data), so the policy counts it a download.
		"/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID,
	}
	return view, download
}

func TestShareLinkViewOnly(t *testing.T) {
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	if !strings.HasPrefix(c.URL, e.url+"/s/") || c.Expires.Sub(e.clk.now()) != 72*time.Hour {
		t.Fatalf("created: url %s expires %s", c.URL, c.Expires)
	}
	token := strings.TrimPrefix(c.URL, e.url+"/s/")
	// A short opaque link (issue 17): SMS-sized, no identifier readable.
	if n := len("/s/" + token); n > 40 || strings.Contains(token, e.a.StudyUID) {
		t.Errorf("link %q: %d characters after the host (at most 40), no study UID", c.URL, n)
	}

	// The QR codes (PNG from the answer, PNG and SVG routes) hold the URL.
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.QRPNG, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, png); got != c.URL {
		t.Errorf("QR PNG decodes to %q, want %q", got, c.URL)
	}
	resp, b := e.do(t, "GET", "/api/v1/shares/"+c.ID+"/qr.png", "clin", nil, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || decodeQR(t, b) != c.URL {
		t.Errorf("GET qr.png: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, b = e.do(t, "GET", "/api/v1/shares/"+c.ID+"/qr.svg", "clin", nil, nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "<svg") || string(b) != c.QRSVG {
		t.Errorf("GET qr.svg: %d %.60s", resp.StatusCode, b)
	}
	if resp, _ := e.do(t, "GET", "/api/v1/shares/"+c.ID+"/qr.png", "clin2", nil, nil, nil); resp.StatusCode != 404 {
		t.Errorf("another institution's clinician got the QR code: %d", resp.StatusCode)
	}

	// The preview (what chat apps fetch) shows nothing that says who the
	// patient is and uses nothing up, however often it is fetched. It names
	// the hospital and the exam (issue 17: a parent must know which exam
	// was shared).
	for i := 0; i < 3; i++ {
		resp, b = e.do(t, "GET", c.URL, "", nil, nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "打开 Open") {
			t.Fatalf("landing: %d %s", resp.StatusCode, b)
		}
	}
	for _, f := range e.a.Files() {
		if !strings.Contains(string(b), f.InstitutionName) {
			t.Errorf("landing page does not name the hospital %q", f.InstitutionName)
		}
		for _, secret := range []string{f.PatientName, f.PatientID, f.AccessionNumber, f.StudyUID} {
			for _, part := range strings.Split(secret, "^") {
				if len(part) > 2 && strings.Contains(string(b), part) {
					t.Errorf("landing page shows %q", part)
				}
			}
		}
	}
	if resp.Header.Get("Referrer-Policy") != "same-origin" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("landing headers: %v", resp.Header)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("the preview set a cookie")
	}
	if resp, b := e.do(t, "HEAD", c.URL, "", nil, nil, nil); resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD of the link: %d", resp.StatusCode)
	}
	_, b = e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
	if !strings.Contains(string(b), `"uses":0`) {
		t.Errorf("previews used the link up: %s", b)
	}

	// Opening counts a use, sets a strict session cookie and lands on the
	// viewer for that study.
	resp, b, ck := e.open(t, c.URL, "")
	if resp.StatusCode != http.StatusOK || ck == nil {
		t.Fatalf("open: %d %s", resp.StatusCode, b)
	}
	// The answer is the share page itself (a round trip sooner than a
	// redirect), its URLs relative to the site root from /s/{token}/open,
	// naming its own address for first.js, not stored.
	page := string(b)
	if !strings.Contains(page, `<meta name="page-url" content="../../share.html?studyUID=`+e.a.StudyUID+`">`) ||
		!strings.Contains(page, `<script src="../../first.js">`) || !strings.Contains(page, `<img id="image" src="data:image/jpeg;base64,`) {
		t.Errorf("open did not answer the rebased share page with its thumbnail: %.600s", page)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("open's page: Cache-Control %q, want no-store", cc)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge != 1800 || ck.Value == token || strings.Contains(ck.Value, token) {
		t.Errorf("cookie: %+v", ck)
	}
	_, b = e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
	if !strings.Contains(string(b), `"uses":1`) {
		t.Errorf("open not counted: %s", b)
	}
	// The share token itself is no session, nor is the session a link.
	if resp, _ := e.do(t, "GET", "/dicomweb/studies/"+e.a.StudyUID+"/metadata", "", []*http.Cookie{{Name: ck.Name, Value: token}}, nil, nil); resp.StatusCode != 401 {
		t.Errorf("link token accepted as a session: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/s/"+ck.Value, "", nil, nil, nil); resp.StatusCode != 404 {
		t.Errorf("session accepted as a link: %d", resp.StatusCode)
	}

	// The session views its study...
	sess := []*http.Cookie{ck}
	view, download := wadoPaths(e.a)
	for _, p := range view {
		if resp, b := e.do(t, "GET", p, "", sess, nil, nil); resp.StatusCode != 200 {
			t.Errorf("view %s: %d %.200s", p, resp.StatusCode, b)
		}
	}
	resp, b = e.do(t, "GET", "/dicomweb/studies?StudyInstanceUID="+e.a.StudyUID, "", sess, nil, nil)
	if !strings.Contains(string(b), e.a.StudyUID) {
		t.Errorf("QIDO of the shared study: %d %.200s", resp.StatusCode, b)
	}
	// ...but downloads nothing: 403 with a clear message.
	for _, p := range download {
		resp, b := e.do(t, "GET", p, "", sess, nil, nil)
		if resp.StatusCode != 403 || !strings.Contains(string(b), "viewing only") {
			t.Errorf("download %s with a view-only share: %d %.200s", p, resp.StatusCode, b)
		}
	}
	// Nothing of study B through any WADO path, nor any search beyond A.
	bview, bdown := wadoPaths(e.b)
	for _, p := range append(append(bview, bdown[:5]...),
		"/dicomweb/studies", "/dicomweb/studies?PatientID=*", "/dicomweb/series", "/dicomweb/instances",
		"/dicomweb/studies?StudyInstanceUID="+e.a.StudyUID+"&StudyInstanceUID="+e.b.StudyUID,
		"/dicomweb/studies?StudyInstanceUID="+e.a.StudyUID+","+e.b.StudyUID,
		"/dicomweb/studies/"+e.b.StudyUID+"/series/"+e.a.Series[0].SeriesUID+"/metadata",
		"/dicomweb/wado?requestType=WADO&studyUID="+e.a.StudyUID+"&seriesUID="+e.b.Series[0].SeriesUID+"&objectUID="+e.b.Series[0].Files[0].SOPUID,
		"/dicomweb/studies/"+e.a.StudyUID+"/../"+e.b.StudyUID+"/metadata",
		"/dicomweb/studies/"+e.a.StudyUID+"%2F..%2F"+e.b.StudyUID+"/metadata",
		"/api/v1/recognition/catalogue", "/api/v1/me", "/api/v1/shares?study="+e.a.StudyUID,
	) {
		resp, b := e.do(t, "GET", p, "", sess, nil, nil)
		if resp.StatusCode != 403 && resp.StatusCode != 404 || strings.Contains(string(b), e.b.StudyUID) && resp.StatusCode == 200 {
			t.Errorf("study A's session reached %s: %d %.200s", p, resp.StatusCode, b)
		}
	}
	// Nor may it make links.
	body, _ := json.Marshal(map[string]any{"study": e.a.StudyUID})
	if resp, _ := e.do(t, "POST", "/api/v1/shares", "", sess, map[string]string{"Content-Type": "application/json"}, body); resp.StatusCode != 403 {
		t.Errorf("a share session made a share: %d", resp.StatusCode)
	}
	resp, b = e.do(t, "GET", "/api/v1/shares/session", "", sess, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"download":false`) {
		t.Errorf("session facts: %d %s", resp.StatusCode, b)
	}

	// The session ends at its 30 minutes.
	e.clk.set(e.clk.now().Add(31 * time.Minute))
	if resp, _ := e.do(t, "GET", "/dicomweb/studies/"+e.a.StudyUID+"/metadata", "", sess, nil, nil); resp.StatusCode != 401 {
		t.Errorf("session after 31 minutes: %d", resp.StatusCode)
	}

	// Every open and refusal is audited, and no token reached the log or
	// the audit trail.
	evs := e.events(t)
	if !hasEvent(evs, "POST /s/:token/open", "share "+c.ID+" open ok (use 1)", 200) ||
		!hasEvent(evs, "GET /s/:token", "share "+c.ID+" preview", 200) {
		t.Errorf("opens not audited: %+v", evs)
	}
	sawDenied := false
	for _, ev := range evs {
		if ev.Actor == "share:"+c.ID && ev.Outcome == 403 && ev.Study == e.a.StudyUID {
			sawDenied = true
		}
		raw, _ := json.Marshal(ev)
		if strings.Contains(string(raw), token) || strings.Contains(string(raw), ck.Value) {
			t.Fatalf("a token reached the audit trail: %s", raw)
		}
	}
	if !sawDenied {
		t.Error("the refused download is not in the audit trail")
	}
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	if strings.Contains(logs, token) || strings.Contains(logs, ck.Value) || !strings.Contains(logs, "/s/:token") {
		t.Errorf("request log holds a token or lacks the /s/ requests:\n%s", logs)
	}
}

func TestShareLinkDownload(t *testing.T) {
	e := start(t)
	c := e.create(t, "admin", map[string]any{"study": e.a.StudyUID, "download": true, "hours": 1})
	_, _, ck := e.open(t, c.URL, "")
	if ck == nil {
		t.Fatal("no session")
	}
	sess := []*http.Cookie{ck}
	_, download := wadoPaths(e.a)
	for _, p := range download {
		if resp, b := e.do(t, "GET", p, "", sess, map[string]string{"Accept": "*/*"}, nil); resp.StatusCode != 200 {
			t.Errorf("download %s: %d %.200s", p, resp.StatusCode, b)
		}
	}
	resp, b := e.do(t, "GET", "/api/v1/shares/session/study.zip", "", sess, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %s", resp.StatusCode, resp.Header)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkMediaZip(t, e, resp, zr)
	// Downloads stay within the study.
	if resp, _ := e.do(t, "GET", "/dicomweb/studies/"+e.b.StudyUID, "", sess, nil, nil); resp.StatusCode != 403 {
		t.Errorf("study B with a download share: %d", resp.StatusCode)
	}
	// A link cannot outlive the configured maximum, nor be made for a
	// study its maker cannot see.
	body, _ := json.Marshal(map[string]any{"study": e.a.StudyUID, "hours": 24 * 31})
	if resp, b := e.do(t, "POST", "/api/v1/shares", "admin", nil, map[string]string{"Content-Type": "application/json"}, body); resp.StatusCode != 400 {
		t.Errorf("31 days: %d %s", resp.StatusCode, b)
	}
}

func TestWhoMayShare(t *testing.T) {
	e := start(t)
	for _, c := range []struct {
		who, study string
		want       int
	}{
		{"clin", e.a.StudyUID, 201},  // own institution
		{"clin2", e.a.StudyUID, 404}, // another institution, no consent
		{"patA", e.a.StudyUID, 201},  // own study
		{"patA", e.b.StudyUID, 404},  // someone else's
		{"admin", e.b.StudyUID, 201}, // admin
		{"pacs", e.a.StudyUID, 403},  // not a sharer at all
		{"admin", "1.2.3.4.5", 404},  // no such study
		{"admin", "../../etc", 404},  // not a UID
	} {
		body, _ := json.Marshal(map[string]any{"study": c.study})
		resp, b := e.do(t, "POST", "/api/v1/shares", c.who, nil, map[string]string{"Content-Type": "application/json"}, body)
		if resp.StatusCode != c.want {
			t.Errorf("%s shares %s: %d %s, want %d", c.who, c.study, resp.StatusCode, b, c.want)
		}
	}
	sh := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	if resp, _ := e.do(t, "DELETE", "/api/v1/shares/"+sh.ID, "clin2", nil, nil, nil); resp.StatusCode != 404 {
		t.Errorf("another institution revoked: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "DELETE", "/api/v1/shares/"+sh.ID, "patA", nil, nil, nil); resp.StatusCode != 200 {
		t.Errorf("the patient could not revoke a share of their study: %d", resp.StatusCode)
	}
}

// TestShareCreatorIsACredential: a share made by dr.li at h1 is not
// managed by dr.li at h2 (another token with the same user name): read,
// QR codes, revocation and the study's list all answer 404, and the
// share stays active. Its creator and admins still manage it.
func TestShareCreatorIsACredential(t *testing.T) {
	e := start(t)
	sh := e.create(t, "clin", map[string]any{"study": e.a.StudyUID})
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/shares/" + sh.ID},
		{"GET", "/api/v1/shares/" + sh.ID + "/qr.png"},
		{"GET", "/api/v1/shares/" + sh.ID + "/qr.svg"},
		{"DELETE", "/api/v1/shares/" + sh.ID},
		{"GET", "/api/v1/shares?study=" + e.a.StudyUID},
	} {
		if resp, b := e.do(t, c.method, c.path, "li2", nil, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("dr.li of h2: %s %s = %d %.200s, want 404", c.method, c.path, resp.StatusCode, b)
		}
	}
	for _, who := range []string{"clin", "admin"} {
		resp, b := e.do(t, "GET", "/api/v1/shares/"+sh.ID, who, nil, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"state":"active"`) {
			t.Errorf("%s reads the share: %d %s", who, resp.StatusCode, b)
		}
	}
	// A list shows only the shares one may manage: dr.li of h2 sees the
	// share of study B they made, not the admin's.
	mine := e.create(t, "li2", map[string]any{"study": e.b.StudyUID})
	e.create(t, "admin", map[string]any{"study": e.b.StudyUID})
	resp, b := e.do(t, "GET", "/api/v1/shares?study="+e.b.StudyUID, "li2", nil, nil, nil)
	var list []struct{ ID string }
	if err := json.Unmarshal(b, &list); resp.StatusCode != 200 || err != nil || len(list) != 1 || list[0].ID != mine.ID {
		t.Errorf("li2 lists study B: %d %s, want only %s", resp.StatusCode, b, mine.ID)
	}
}

// TestShareLifetimeBounds: a life under the minimum (1e-8 hours made a
// link dead on arrival) or beyond the maximum is refused 400, naming the
// field; the bounds themselves are accepted.
func TestShareLifetimeBounds(t *testing.T) {
	e := start(t)
	for _, c := range []struct {
		hours float64
		want  int
		text  string
	}{
		{1e-8, 400, "hours: 1e-08 is under the minimum"},
		{0.05, 400, "under the minimum of 0.08333 hours"},
		{-1, 400, "hours must be positive"},
		{24*30 + 1, 400, "hours: 721 is beyond the maximum of 720 hours"},
		{5.0 / 60, 201, ""},
		{24 * 30, 201, ""},
		{0, 201, ""},
	} {
		body, _ := json.Marshal(map[string]any{"study": e.a.StudyUID, "hours": c.hours})
		resp, b := e.do(t, "POST", "/api/v1/shares", "clin", nil, map[string]string{"Content-Type": "application/json"}, body)
		if resp.StatusCode != c.want || !strings.Contains(string(b), c.text) {
			t.Errorf("hours %g: %d %s, want %d with %q", c.hours, resp.StatusCode, b, c.want, c.text)
		}
	}
	if resp, b := e.do(t, "GET", "/api/v1/shares?study="+e.a.StudyUID, "clin", nil, nil, nil); strings.Count(string(b), `"id"`) != 3 {
		t.Errorf("want the 3 accepted shares and no other: %d %s", resp.StatusCode, b)
	}
}

// TestOpenRefusesCrossSite: another site's page posting the open form
// (login CSRF) is refused 403 with a page that says so, spends no use and
// sets no session; the landing page's own form, and clients that send
// neither Origin nor Sec-Fetch-Site, open as before.
func TestOpenRefusesCrossSite(t *testing.T) {
	e := start(t)
	c := e.create(t, "clin", map[string]any{"study": e.a.StudyUID, "uses": 10})
	post := func(hdr map[string]string) (*http.Response, string) {
		t.Helper()
		hdr["Content-Type"] = "application/x-www-form-urlencoded"
		resp, b := e.do(t, "POST", c.URL+"/open", "", nil, hdr, nil)
		return resp, string(b)
	}
	uses := func() string {
		t.Helper()
		_, b := e.do(t, "GET", "/api/v1/shares/"+c.ID, "clin", nil, nil, nil)
		var info struct{ Uses int }
		json.Unmarshal(b, &info)
		return strconv.Itoa(info.Uses)
	}
	for name, hdr := range map[string]map[string]string{
		"another origin":          {"Origin": "https://evil.example"},
		"origin with our name in": {"Origin": e.url + ".evil.example"},
		"opaque origin":           {"Origin": "null"},
		"cross-site fetch":        {"Sec-Fetch-Site": "cross-site"},
		"sibling site":            {"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.cn"},
		"cross-site, our origin":  {"Sec-Fetch-Site": "cross-site", "Origin": e.url},
	} {
		resp, body := post(hdr)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no use was counted") || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %d cookies=%d %.300s, want 403 without a session", name, resp.StatusCode, len(resp.Cookies()), body)
		}
	}
	if got := uses(); got != "0" {
		t.Fatalf("refused cross-site opens spent %s uses", got)
	}
	if !hasEvent(e.events(t), "POST /s/:token/open", "open refused: cross-site", 403) {
		t.Error("the refusal is not audited")
	}
	for name, hdr := range map[string]map[string]string{
		"our origin":                  {"Origin": e.url},
		"our form (no-referrer page)": {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
		"typed":                       {"Sec-Fetch-Site": "none"},
		"curl":                        {},
	} {
		if resp, body := post(hdr); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
			t.Errorf("%s: %d %.300s, want 200 (the page) with a session", name, resp.StatusCode, body)
		}
	}
	if got := uses(); got != "4" {
		t.Errorf("uses %s after 4 same-site opens", got)
	}
}
