package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// routeAccess is who may pass the route policy of each route the router
// has, keyed "METHOD pattern" as echo names it. "public" needs no
// credentials; "share" is a share-link session (a patient principal scoped
// to one study). A route added to the router without a line here fails
// TestRouteAccess, and so does a line for a route that no longer exists:
// the table is the access rule written down, and the test holds the
// policy to it.
var routeAccess = map[string]string{
	"GET /healthz":                 "public",
	"GET /readyz":                  "public",
	"GET /metrics":                 "admin",
	"GET /*":                       "public", // the viewer's static files
	"GET /favicon.ico":             "public",
	"GET /IHEInvokeImageDisplay":   "public", // redirects into the viewer, which then authenticates
	"GET /s/:token":                "public", // share links authenticate themselves
	"HEAD /s/:token":               "public",
	"POST /s/:token/open":          "public",
	"GET /s/*":                     "public",
	"HEAD /s/*":                    "public",
	"POST /s/*":                    "public",
	"PUT /s/*":                     "public",
	"PATCH /s/*":                   "public",
	"DELETE /s/*":                  "public",
	"OPTIONS /s/*":                 "public",
	"CONNECT /s/*":                 "public",
	"PROPFIND /s/*":                "public",
	"REPORT /s/*":                  "public",
	"TRACE /s/*":                   "public",
	"GET /api/v1/me":               "admin clinician peer patient pacs",
	"GET /api/v1/institutions":     "admin clinician",
	"GET /api/v1/institutions/:id": "admin clinician",
	"GET /api/v1/regions":          "admin clinician",

	"GET /api/v1/recognition/catalogue":       "admin clinician",
	"GET /api/v1/recognition/catalogue/:code": "admin clinician",
	"GET /api/v1/recognition/studies/:study":  "admin clinician",
	"POST /api/v1/recognition/order-check":    "admin clinician",
	"POST /api/v1/recognition/decisions":      "admin clinician",
	"GET /api/v1/recognition/decisions":       "admin clinician",
	"GET /api/v1/recognition/statistics":      "admin clinician",
	"POST /api/v1/persons/links":              "admin clinician",
	"POST /api/v1/persons/links/unlink":       "admin clinician",

	"GET /api/v1/patient/consents":        "admin patient",
	"POST /api/v1/patient/consents":       "admin patient",
	"DELETE /api/v1/patient/consents/:id": "admin patient",
	"GET /api/v1/patient/access-log":      "admin patient",

	"POST /api/v1/shares":                  "admin clinician patient",
	"GET /api/v1/shares":                   "admin clinician patient",
	"GET /api/v1/shares/:id":               "admin clinician patient",
	"DELETE /api/v1/shares/:id":            "admin clinician patient",
	"GET /api/v1/shares/:id/qr.png":        "admin clinician patient",
	"GET /api/v1/shares/:id/qr.svg":        "admin clinician patient",
	"GET /api/v1/shares/session":           "admin clinician patient share",
	"GET /api/v1/shares/session/study.zip": "admin clinician patient share",

	"GET /api/v1/federation/identity": "admin peer",

	"GET /api/v1/admin/tokens":              "admin",
	"POST /api/v1/admin/tokens":             "admin",
	"DELETE /api/v1/admin/tokens/:id":       "admin",
	"GET /api/v1/admin/audit":               "admin",
	"GET /api/v1/admin/audit/report":        "admin",
	"GET /api/v1/admin/audit/verify":        "admin",
	"POST /api/v1/admin/audit/export":       "admin",
	"GET /api/v1/admin/dicom-aes":           "admin",
	"PUT /api/v1/admin/dicom-aes/:aet":      "admin",
	"DELETE /api/v1/admin/dicom-aes/:aet":   "admin",
	"GET /api/v1/admin/share-keys":          "admin",
	"POST /api/v1/admin/share-keys":         "admin",
	"DELETE /api/v1/admin/share-keys/:kid":  "admin",
	"GET /api/v1/admin/federation/peers":    "admin",
	"PUT /api/v1/admin/institutions/:id":    "admin",
	"DELETE /api/v1/admin/institutions/:id": "admin",
	"PUT /api/v1/admin/regions/:id":         "admin",
	"DELETE /api/v1/admin/regions/:id":      "admin",
	"PUT /api/v1/admin/catalogue/:code":     "admin",
	"DELETE /api/v1/admin/catalogue/:code":  "admin",
	"POST /api/v1/admin/recognition/import": "admin",
	"GET /api/v1/admin/recognition/export":  "admin",

	"PUT /api/v1/admin/studies/:study/holding": "admin",

	"POST /dicomweb/studies":        "admin pacs",
	"POST /dicomweb/studies/:study": "admin pacs",
	// Retrieval from a peer through this gateway: never relayed on by a
	// peer, nor asked by a patient or a share link.
	"GET /dicomweb/peers/:peer/studies/:study":   "admin clinician",
	"GET /dicomweb/peers/:peer/studies/:study/*": "admin clinician",
}

// dicomwebReads are the DICOMweb read routes: every reader but a PACS
// (which stores only); a share link reads its own study. /wado is
// WADO-URI at the site root, where legacy clients are configured.
var dicomwebReads = []string{
	"/dicomweb/studies", "/dicomweb/series", "/dicomweb/instances", "/dicomweb/wado", "/wado",
	"/dicomweb/studies/:study", "/dicomweb/studies/:study/metadata", "/dicomweb/studies/:study/rendered",
	"/dicomweb/studies/:study/thumbnail", "/dicomweb/studies/:study/series", "/dicomweb/studies/:study/instances",
	"/dicomweb/studies/:study/series/:series", "/dicomweb/studies/:study/series/:series/metadata",
	"/dicomweb/studies/:study/series/:series/rendered", "/dicomweb/studies/:study/series/:series/thumbnail",
	"/dicomweb/studies/:study/series/:series/instances",
	"/dicomweb/studies/:study/series/:series/instances/:sop",
	"/dicomweb/studies/:study/series/:series/instances/:sop/metadata",
	"/dicomweb/studies/:study/series/:series/instances/:sop/rendered",
	"/dicomweb/studies/:study/series/:series/instances/:sop/thumbnail",
	"/dicomweb/studies/:study/series/:series/instances/:sop/bulkdata/*",
	"/dicomweb/studies/:study/series/:series/instances/:sop/frames/:frames",
	"/dicomweb/studies/:study/series/:series/instances/:sop/frames/:frames/rendered",
	"/dicomweb/studies/:study/series/:series/instances/:sop/frames/:frames/thumbnail",
}

// TestRouteAccess walks every route of the gateway's router, as serve
// assembles it (federation on), and sends each one a request as every
// kind of principal: a principal the table does not name must be refused
// (401 without credentials, 403 with them), one it names must get past
// the route policy. A route without a line in routeAccess fails.
func TestRouteAccess(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.Demo = true
	cfg.Access.AdminToken = admin
	cfg.Access.RatePerSec = 0
	cfg.Access.FailRatePerSec = 0 // it is refused on purpose, 600 times
	cfg.Federation.Name = "here"
	cfg.Federation.Province = "320000"
	ctx := context.Background()
	gw, err := assemble(ctx, cfg, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.close)
	srv := httptest.NewServer(gw.echo)
	t.Cleanup(srv.Close)

	want := map[string]string{}
	for k, v := range routeAccess {
		want[k] = v
	}
	for _, p := range dicomwebReads {
		want["GET "+p] = "admin clinician peer patient share"
	}
	// A share session searches its own study only, at the study level.
	want["GET /dicomweb/series"] = "admin clinician peer patient"
	want["GET /dicomweb/instances"] = "admin clinician peer patient"

	send := func(method, path string, hdr map[string]string, body []byte) (int, []byte) {
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	token := func(fields map[string]string) string {
		b, _ := json.Marshal(fields)
		h := bearer(admin)
		h["Content-Type"] = "application/json"
		code, out := send("POST", "/api/v1/admin/tokens", h, b)
		var r struct{ Token string }
		if code != 201 || json.Unmarshal(out, &r) != nil {
			t.Fatalf("create token %v: %d %s", fields, code, out)
		}
		return r.Token
	}

	// A real study of the demo, for the share link.
	code, out := send("GET", "/dicomweb/studies?limit=1", bearer(admin), nil)
	var rows []map[string]struct{ Value []any }
	if code != 200 || json.Unmarshal(out, &rows) != nil || len(rows) == 0 {
		t.Fatalf("demo studies: %d %s", code, out)
	}
	study := fmt.Sprint(rows[0]["0020000D"].Value[0])
	sb, _ := json.Marshal(map[string]any{"study": study, "hours": 1, "download": true})
	h := bearer(admin)
	h["Content-Type"] = "application/json"
	code, out = send("POST", "/api/v1/shares", h, sb)
	var sh struct{ URL string }
	if code != 201 || json.Unmarshal(out, &sh) != nil {
		t.Fatalf("create share: %d %s", code, out)
	}
	u, err := url.Parse(sh.URL)
	if err != nil {
		t.Fatal(err)
	}
	openReq, _ := http.NewRequest("POST", srv.URL+u.Path+"/open", strings.NewReader(""))
	openReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(openReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	if cookie == "" {
		t.Fatalf("opening the share link set no session cookie: %d", resp.StatusCode)
	}

	principals := []struct {
		role string
		hdr  map[string]string
	}{
		{"public", nil},
		{"admin", bearer(admin)},
		{"clinician", bearer(token(map[string]string{"role": "clinician", "institution": "jsph", "user": "dr.route"}))},
		{"pacs", bearer(token(map[string]string{"role": "pacs", "institution": "jsph", "user": "pacs.route"}))},
		{"peer", bearer(token(map[string]string{"role": "peer", "user": "other-province"}))},
		{"patient", bearer(token(map[string]string{"role": "patient", "user": "p", "person_key": strings.Repeat("ab", 32)}))},
		{"share", map[string]string{"Cookie": cookie}},
		{"forged", bearer("gw_ops_0123456789abcdefghijklmnoX")},
	}

	var routes []string
	for _, r := range gw.echo.Routes() {
		if strings.HasPrefix(r.Method, "echo_") {
			continue // echo's own not-found handlers
		}
		routes = append(routes, r.Method+" "+r.Path)
	}
	sort.Strings(routes)
	routes = slices.Compact(routes)
	for _, key := range routes {
		if _, ok := want[key]; !ok {
			t.Errorf("route %s has no access rule in routeAccess: say who may call it", key)
		}
	}
	// The policy itself has a rule for every route (default deny: a
	// route without one would be refused to everyone; assemble refuses
	// to start with one, access.Policy.Cover).
	for _, key := range routes {
		method, pattern, _ := strings.Cut(key, " ")
		if _, ok := gw.policy.Rule(method, pattern); !ok {
			t.Errorf("route %s has no rule in the access policy", key)
		}
	}
	for key := range want {
		if !slices.Contains(routes, key) {
			t.Errorf("routeAccess names %s, which the router does not have", key)
		}
	}

	checked := 0
	for _, key := range routes {
		allowed := strings.Fields(want[key])
		if len(allowed) == 0 {
			continue
		}
		method, pattern, _ := strings.Cut(key, " ")
		path := fillRoute(pattern, study)
		for _, pr := range principals {
			checked++
			code, body := send(method, path, pr.hdr, nil)
			public := slices.Contains(allowed, "public")
			ok := public || slices.Contains(allowed, pr.role)
			switch {
			case ok && pr.role != "public" && pr.role != "forged" && code == http.StatusUnauthorized:
				t.Errorf("%s %s as %s: 401 %s, want past authentication", method, path, pr.role, body)
			case ok && code == http.StatusForbidden && refusedByPolicy(body):
				t.Errorf("%s %s as %s: refused by the route policy (%s), the table allows it", method, path, pr.role, body)
			case !ok && (pr.role == "public" || pr.role == "forged") && code != http.StatusUnauthorized:
				t.Errorf("%s %s as %s: %d %s, want 401", method, path, pr.role, code, trim(body))
			case !ok && pr.role != "public" && pr.role != "forged" && code != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d %s, want 403", method, path, pr.role, code, trim(body))
			}
		}
	}
	t.Logf("route access: %d routes x %d principals, %d requests", len(routes), len(principals), checked)
}

// fillRoute gives a route pattern's parameters syntactically valid values;
// :study is a real study, so that a share session is in scope.
func fillRoute(pattern, study string) string {
	r := strings.NewReplacer(":study", study, ":series", "1.2.826.0.1.3680043.9.9.2", ":sop", "1.2.826.0.1.3680043.9.9.3",
		":frames", "1", ":peer", "nowhere", ":token", "x", ":id", "x", ":code", "x", ":kid", "x")
	p := r.Replace(pattern)
	if strings.HasSuffix(p, "*") {
		p = strings.TrimSuffix(p, "*") + "x"
	}
	if p == "/dicomweb/studies" {
		p += "?StudyInstanceUID=" + study // the one QIDO a share session may ask
	}
	if p == "/dicomweb/wado" || p == "/wado" {
		p += "?requestType=WADO&studyUID=" + study + "&seriesUID=1.2.3&objectUID=1.2.3.4"
	}
	return p
}

// refusedByPolicy tells a refusal of the route policy (access.Policy.Authorize,
// with its share scope) from one a handler gives for its own reasons.
func refusedByPolicy(body []byte) bool {
	s := string(body)
	return strings.Contains(s, "may not") && strings.Contains(s, "role") ||
		strings.Contains(s, "is not open to anyone") || strings.Contains(s, "a share link")
}

func trim(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
