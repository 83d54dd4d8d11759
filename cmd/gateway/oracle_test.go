package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestHiddenStudyAnswersLikeAMissingOne walks every WADO route of a real
// gateway with demo data, as a clinician of one institution, for (a) UIDs
// that do not exist and (b) the UIDs of another institution's study the
// clinician may not see: status and body must be identical, or the answers
// tell which studies exist (issue 14, finding 8).
func TestHiddenStudyAnswersLikeAMissingOne(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo", "--rate-limit", "0")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	get := func(tok, path, accept string) (int, string) {
		resp, b := gwtest.Do(t, "GET", root+path, map[string]string{"Accept": accept, "Authorization": "Bearer " + tok}, nil)
		return resp.StatusCode, string(b)
	}
	type uids struct{ study, series, sop string }
	instances := func(tok string) []uids {
		code, b := get(tok, "/dicomweb/instances", "application/dicom+json")
		var rows []map[string]struct{ Value []any }
		if code/100 != 2 || (code == 200 && json.Unmarshal([]byte(b), &rows) != nil) {
			t.Fatalf("QIDO instances: %d %s", code, b)
		}
		var out []uids
		for _, r := range rows {
			out = append(out, uids{fmt.Sprint(r["0020000D"].Value[0]), fmt.Sprint(r["0020000E"].Value[0]), fmt.Sprint(r["00080018"].Value[0])})
		}
		return out
	}
	mk := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + admin}
	resp, b := gwtest.Do(t, "POST", root+"/api/v1/admin/tokens", mk,
		strings.NewReader(`{"role":"clinician","institution":"jsph","user":"dr.oracle"}`))
	var tok struct{ Token string }
	if resp.StatusCode != 201 || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("create token: %d %s", resp.StatusCode, b)
	}
	seen := map[string]bool{}
	for _, u := range instances(tok.Token) {
		seen[u.study] = true
	}
	var hidden *uids
	for _, u := range instances(admin) {
		if !seen[u.study] {
			hidden = &u
			break
		}
	}
	if hidden == nil || len(seen) == 0 {
		t.Fatalf("demo data: want studies the jsph clinician sees and one it does not (sees %d)", len(seen))
	}
	missing := uids{"1.2.826.0.1.3680043.10.1.999", "1.2.826.0.1.3680043.10.1.998", "1.2.826.0.1.3680043.10.1.997"}

	routes := []struct{ path, accept string }{
		{"/dicomweb/studies/{st}", "*/*"},
		{"/dicomweb/studies/{st}/series/{se}", "*/*"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}", "*/*"},
		{"/dicomweb/studies/{st}/metadata", "application/dicom+json"},
		{"/dicomweb/studies/{st}/series/{se}/metadata", "application/dicom+json"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/metadata", "application/dicom+json"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/frames/1", "*/*"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/bulkdata/7FE00010", "*/*"},
		{"/dicomweb/studies/{st}/rendered", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/rendered", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/rendered", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/frames/1/rendered", "image/jpeg"},
		{"/dicomweb/studies/{st}/thumbnail", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/thumbnail", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/thumbnail", "image/jpeg"},
		{"/dicomweb/studies/{st}/series/{se}/instances/{in}/frames/1/thumbnail", "image/jpeg"},
		{"/dicomweb/wado?requestType=WADO&studyUID={st}&seriesUID={se}&objectUID={in}", "*/*"},
		// Searches scoped to a study find nothing in both cases.
		{"/dicomweb/studies/{st}/series", "application/dicom+json"},
		{"/dicomweb/studies/{st}/instances", "application/dicom+json"},
		{"/dicomweb/studies/{st}/series/{se}/instances", "application/dicom+json"},
		{"/dicomweb/studies?StudyInstanceUID={st}", "application/dicom+json"},
	}
	fill := func(path string, u uids) string {
		return strings.NewReplacer("{st}", u.study, "{se}", u.series, "{in}", u.sop).Replace(path)
	}
	for _, r := range routes {
		codeA, bodyA := get(tok.Token, fill(r.path, missing), r.accept)
		codeB, bodyB := get(tok.Token, fill(r.path, *hidden), r.accept)
		if codeA != codeB || bodyA != bodyB {
			t.Errorf("%s: missing study %d %q, hidden study %d %q", r.path, codeA, bodyA, codeB, bodyB)
		}
		if strings.Contains(r.path, "/series?") || strings.HasSuffix(r.path, "/series") || strings.HasSuffix(r.path, "/instances") || strings.Contains(r.path, "studies?") {
			if codeB/100 != 2 {
				t.Errorf("%s: search answered %d, want an empty answer", r.path, codeB)
			}
			continue
		}
		if codeB != http.StatusNotFound {
			t.Errorf("%s: hidden study answered %d %s, want 404", r.path, codeB, bodyB)
		}
	}
	// The clinician's own studies still answer.
	for st := range seen {
		if code, b := get(tok.Token, "/dicomweb/studies/"+st+"/metadata", "application/dicom+json"); code != 200 {
			t.Fatalf("own study metadata: %d %s", code, b)
		}
		break
	}
}
