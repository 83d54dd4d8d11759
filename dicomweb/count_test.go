package dicomweb_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// stowStudies stores n single-instance studies through STOW-RS.
func stowStudies(t *testing.T, gw *gwtest.Gateway, n int) {
	t.Helper()
	var parts []gwtest.Part
	for i := range n {
		study := fmt.Sprintf("1.2.826.0.1.78.%d", i)
		series, sop := study+".1", study+".1.1"
		parts = append(parts, gwtest.Part{Body: gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal(study, series, sop))})
	}
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", parts); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
}

// TestQIDOTotalCount: "Prefer: count=exact" adds X-Total-Count, the number
// of matches whatever limit and offset, at each level; without it there
// is none.
func TestQIDOTotalCount(t *testing.T) {
	gw := startStore(t, gwtest.Options{})
	stowStudies(t, gw, 7)
	for _, c := range []struct {
		path, total string
		prefer      string
	}{
		{"/studies?limit=2", "7", "count=exact"},
		{"/studies?limit=2&offset=3&PatientID=HOSTILE1", "7", "count"},
		{"/studies?PatientName=*HOST*&limit=1", "7", "return=minimal, count=exact"},
		{"/studies?PatientID=NOBODY", "0", "count=exact"},
		{"/series?limit=1", "7", "count=exact"},
		{"/studies/1.2.826.0.1.78.3/instances", "1", "count=exact"},
		{"/studies?limit=2", "", ""},
		{"/studies?limit=2", "", "count=planned"},
	} {
		hdr := map[string]string{"Accept": "application/dicom+json"}
		if c.prefer != "" {
			hdr["Prefer"] = c.prefer
		}
		resp, body := gwtest.Do(t, "GET", gw.URL+c.path, hdr, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Total-Count"); got != c.total {
			t.Errorf("%s (Prefer %q): X-Total-Count %q, want %q", c.path, c.prefer, got, c.total)
		}
		if applied := resp.Header.Get("Preference-Applied"); (applied != "") != (c.total != "") {
			t.Errorf("%s: Preference-Applied %q", c.path, applied)
		}
	}
}

// TestQIDOScanLimit: over HTTP, a query no key narrows answers the page
// it found within the bound with a Warning naming narrower keys, or 400
// when it found nothing; an offset beyond the bound is 400 naming limit.
func TestQIDOScanLimit(t *testing.T) {
	gw := startStore(t, gwtest.Options{ScanLimit: 4})
	stowStudies(t, gw, 7)
	hdr := map[string]string{"Accept": "application/dicom+json"}
	resp, body := gwtest.Do(t, "GET", gw.URL+"/studies?PatientName=*HOST*", hdr, nil)
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), `"0020000D"`) != 4 {
		t.Fatalf("bounded search: %d %s", resp.StatusCode, body)
	}
	if w := strings.Join(resp.Header.Values("Warning"), "\n"); !strings.Contains(w, `299 gateway "The search stopped after examining 4 studies`) || !strings.Contains(w, "PatientID") {
		t.Errorf("bounded search: Warning %q", w)
	}
	resp, body = gwtest.Do(t, "GET", gw.URL+"/studies?PatientName=*QQQ*", hdr, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "without finding an answer") {
		t.Errorf("nothing found within the bound: %d %s", resp.StatusCode, body)
	}
	resp, body = gwtest.Do(t, "GET", gw.URL+"/studies?offset=900000", hdr, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "limit") {
		t.Errorf("offset 900000: %d %s", resp.StatusCode, body)
	}
	// A key narrows: its candidates are all read, no Warning.
	resp, body = gwtest.Do(t, "GET", gw.URL+"/studies?StudyInstanceUID=1.2.826.0.1.78.6", hdr, nil)
	if resp.StatusCode != http.StatusOK || len(resp.Header.Values("Warning")) != 0 || !strings.Contains(string(body), "1.2.826.0.1.78.6") {
		t.Errorf("UID search: %d %q %s", resp.StatusCode, resp.Header.Values("Warning"), body)
	}
}
