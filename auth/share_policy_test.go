package auth

import (
	"errors"
	"net/http/httptest"
	"testing"
)

func TestCheckScope(t *testing.T) {
	const a, b = "1.2.3", "1.2.4"
	view := Principal{Role: RolePatient, User: "share:x", Scope: a}
	dl := view
	dl.Download = true
	for _, c := range []struct {
		p           Principal
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
		{view, "GET", "/api/v1/shares/session/study.zip", false},
		{dl, "GET", "/dicomweb/studies/1.2.3", true},
		{dl, "GET", "/dicomweb/wado?requestType=WADO&studyUID=1.2.3", true},
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
		{Principal{Role: RoleClinician, Institution: "h1"}, "GET", "/dicomweb/studies/" + b, true},
	} {
		err := CheckScope(c.p, httptest.NewRequest(c.method, c.url, nil))
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s %s (download %v): %v, want ok=%v", c.method, c.url, c.p.Download, err, c.ok)
		}
	}
}
