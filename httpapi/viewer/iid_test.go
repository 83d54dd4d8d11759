package viewer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/httpapi/viewer"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	e := echo.New()
	viewer.Register(e, viewer.Options{Files: viewerstatic.FS()})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestInvokeImageDisplay(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		query    string
		status   int
		location string // for 302
		errHas   string // for 400
	}{
		{"requestType=STUDY&studyUID=1.2.3", 302, "study.html?studyUID=1.2.3", ""},
		{"requestType=STUDY&studyUID=1.2.3,1.2.4&viewerType=IHE_BIR&diagnosticQuality=true", 302, "./?studyUID=1.2.3%2C1.2.4", ""},
		{"requestType=STUDY&accessionNumber=A100", 302, "./?accession=A100", ""},
		{"requestType=PATIENT&patientID=P123", 302, "./?patientID=P123", ""},
		{"requestType=PATIENT&patientID=" + "P123%5E%5E%5E%26HOSP1%26L", 302, "./?issuer=HOSP1&patientID=P123", ""},
		{"requestType=PATIENT&patientID=P1%5E%5E%5E%261.2.840.1%26ISO&lowerDateTime=2026-01-01T00:00:00Z&upperDateTime=2026-06-30", 302,
			"./?from=2026-01-01&issuer=1.2.840.1&patientID=P1&to=2026-06-30", ""},
		{"", 400, "", "requestType is required"},
		{"requestType=SERIES", 400, "", "not supported"},
		{"requestType=STUDY", 400, "", "needs studyUID"},
		{"requestType=STUDY&studyUID=1.2.abc", 400, "", "not a valid UID"},
		{"requestType=STUDY&studyUID=1.2.3,,1.2.4", 400, "", "not a valid UID"},
		{"requestType=PATIENT", 400, "", "needs patientID"},
		{"requestType=PATIENT&patientID=%5E%5E%5E%26X", 400, "", "1 to 64 characters"},
		{"requestType=PATIENT&patientID=A%0AB", 400, "", "control characters"},
		{"requestType=PATIENT&patientID=" + strings.Repeat("9", 65), 400, "", "1 to 64"},
		{"requestType=PATIENT&patientID=P1&lowerDateTime=yesterday", 400, "", "ISO 8601"},
	}
	for _, tc := range tests {
		resp, err := noRedirect.Get(srv.URL + "/IHEInvokeImageDisplay?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		body.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.query, resp.StatusCode, body.String(), tc.status)
			continue
		}
		if got := resp.Header.Get("Location"); tc.status == 302 && got != tc.location {
			t.Errorf("%s: Location %q, want %q", tc.query, got, tc.location)
		}
		if tc.errHas != "" && !strings.Contains(body.String(), tc.errHas) {
			t.Errorf("%s: body %q does not say %q", tc.query, body.String(), tc.errHas)
		}
	}
}

func TestStaticHeaders(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/", "/study.html", "/stats.html", "/common.js", "/style.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, got)
		}
	}
	resp, err := http.Get(srv.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("/favicon.ico: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
