package server_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/consentapi"
	"github.com/imgcloud/gateway/httpapi/fedapi"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/httpapi/shareapi"
)

// fullPolicy is the policy of a gateway with every adapter, and a router
// with a route for each of its rules, to resolve URLs to patterns as the
// real router does.
func fullPolicy(t *testing.T) (*access.Policy, *echo.Echo) {
	t.Helper()
	sets := []access.Rules{shareapi.LinkRules, access.Prefix("/dicomweb", fedapi.ProxyRules)}
	for _, r := range []access.Rules{adminapi.AccessRules, recognitionapi.AccessRules, consentapi.AccessRules, shareapi.AccessRules, fedapi.AccessRules} {
		sets = append(sets, access.Prefix(server.APIRoot, r))
	}
	p, err := server.Policy(sets...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	nop := func(echo.Context) error { return nil }
	for _, set := range append(sets, access.Rules{
		// The routes server.New mounts itself, and DICOMweb's (through
		// the real Register in TestRouteAccess; here by pattern).
		"GET /healthz": {}, "GET /metrics": {}, "GET /*": {},
		"GET /dicomweb/studies": {}, "GET /dicomweb/series": {}, "GET /dicomweb/wado": {}, "GET /wado": {}, "POST /dicomweb/studies": {},
		"POST /dicomweb/studies/:study": {}, "GET /dicomweb/studies/:study": {}, "GET /dicomweb/studies/:study/metadata": {},
		"GET /dicomweb/studies/:study/series/:series": {}, "GET /dicomweb/studies/:study/series/:series/thumbnail": {},
		"GET /dicomweb/studies/:study/series/:series/instances/:sop":                {},
		"GET /dicomweb/studies/:study/series/:series/instances/:sop/rendered":       {},
		"GET /dicomweb/studies/:study/series/:series/instances/:sop/frames/:frames": {},
		"GET /dicomweb/studies/:study/series/:series/instances/:sop/bulkdata/*":     {},
	}) {
		for k := range set {
			var m, path string
			for i := range k {
				if k[i] == ' ' {
					m, path = k[:i], k[i+1:]
					break
				}
			}
			if m == "*" {
				e.Any(path, nop)
			} else {
				e.Add(m, path, nop)
			}
		}
	}
	return p, e
}

// authorize resolves a request with the router and asks the policy.
func authorize(p *access.Policy, e *echo.Echo, pr auth.Principal, method, url string) error {
	r := httptest.NewRequest(method, url, nil)
	c := e.NewContext(r, httptest.NewRecorder())
	e.Router().Find(method, echo.GetPath(r), c)
	return p.Authorize(pr, access.Call{Method: method, Route: c.Path(), Study: c.Param("study"),
		Query: r.URL.Query(), Path: r.URL.Path, RawPath: r.URL.RawPath})
}

// TestPolicy: who may call what, as the adapters declare it (moved from
// auth, with the routes by pattern).
func TestPolicy(t *testing.T) {
	p, e := fullPolicy(t)
	for _, c := range []struct {
		role         auth.Role
		method, path string
		ok           bool
	}{
		{auth.RolePACS, "POST", "/dicomweb/studies", true},
		{auth.RolePACS, "GET", "/dicomweb/studies", false},
		{auth.RoleClinician, "POST", "/dicomweb/studies", false},
		{auth.RoleClinician, "GET", "/dicomweb/studies/1.2/metadata", true},
		{auth.RoleClinician, "GET", "/api/v1/admin/tokens", false},
		{auth.RoleAdmin, "POST", "/api/v1/admin/tokens", true},
		{auth.RolePatient, "GET", "/api/v1/patient/access-log", true},
		{auth.RoleClinician, "GET", "/api/v1/patient/access-log", false},
		{auth.RoleClinician, "GET", "/metrics", false},
		{auth.RolePeer, "GET", "/api/v1/admin/audit", false},
		{"", "GET", "/healthz", true},
		{"", "GET", "/index.html", true},
		// Default deny: a route nobody declared is refused to everyone.
		{auth.RoleAdmin, "DELETE", "/dicomweb/studies/1.2", false},
		{auth.RoleAdmin, "GET", "/nowhere-declared", true}, // the viewer's catch-all
	} {
		err := authorize(p, e, auth.Principal{Role: c.role}, c.method, c.path)
		if (err == nil) != c.ok {
			t.Errorf("%s %s %s: %v, want ok=%v", c.role, c.method, c.path, err, c.ok)
		}
	}
}

// TestShareScope: a share session reads its one study, views unless its
// share allows downloading (moved from auth.CheckScope).
func TestShareScope(t *testing.T) {
	p, e := fullPolicy(t)
	const a, b = "1.2.3", "1.2.4"
	view := auth.Principal{Role: auth.RolePatient, User: "share:x", Scope: a}
	dl := view
	dl.Download = true
	for _, c := range []struct {
		p           auth.Principal
		method, url string
		ok          bool
	}{
		{view, "GET", "/dicomweb/studies/1.2.3/metadata", true},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4/instances/5/frames/1", true},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4/instances/5/rendered", true},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4/thumbnail", true},
		{view, "GET", "/dicomweb/studies?StudyInstanceUID=1.2.3&includefield=00081030", true},
		{view, "GET", "/api/v1/shares/session", true},
		{view, "GET", "/dicomweb/studies/1.2.3", false},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4", false},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4/instances/5", false},
		{view, "GET", "/dicomweb/studies/1.2.3/series/4/instances/5/bulkdata/7fe00010", false},
		{view, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.3", false},
		// WADO-URI pictures are viewing; DICOM, or a list naming anything
		// but images, is downloading.
		{view, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.3&contentType=image/jpeg", true},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=image/png,image/*%3Bq=0.5", true},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=application/dicom", false},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=image/jpeg,application/dicom", false},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=image/jpeg&contentType=*/*", false},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=image/jpeg%3Bx=%22a,application/dicom%22", false},
		{view, "GET", "/wado?requestType=WADO&studyUID=1.2.4&contentType=image/jpeg", false},
		{view, "GET", "/api/v1/shares/session/study.zip", false},
		{dl, "GET", "/dicomweb/studies/1.2.3", true},
		{dl, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.3", true},
		{dl, "GET", "/wado?requestType=WADO&studyUID=1.2.3&contentType=application/dicom", true},
		{dl, "GET", "/api/v1/shares/session/study.zip", true},
		{dl, "GET", "/dicomweb/studies/1.2.4", false},
		{dl, "GET", "/dicomweb/studies/1.2.3.1/metadata", false},
		{dl, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.4", false},
		{dl, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.3&studyUID=1.2.4", false},
		{dl, "GET", "/dicomweb/studies", false},
		{dl, "GET", "/dicomweb/studies?StudyInstanceUID=1.2.3,1.2.4", false},
		{dl, "GET", "/dicomweb/studies?StudyInstanceUID=1.2.3&0020000D=1.2.4", false},
		{dl, "GET", "/dicomweb/series?StudyInstanceUID=1.2.3", false},
		{dl, "GET", "/dicomweb/studies/1.2.3%2F..%2F1.2.4/metadata", false},
		{dl, "GET", "/dicomweb/studies/1.2.3/../1.2.4/metadata", false},
		{dl, "POST", "/dicomweb/studies/1.2.3", false},
		{dl, "POST", "/api/v1/shares", false},
		{dl, "GET", "/api/v1/me", false},
		{auth.Principal{Role: auth.RoleClinician, Institution: "h1"}, "GET", "/dicomweb/studies/" + b, true},
	} {
		err := authorize(p, e, c.p, c.method, c.url)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s %s (download %v): %v, want ok=%v", c.method, c.url, c.p.Download, err, c.ok)
		}
	}
	_ = http.MethodGet
}
