package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestAccessMatrix sends generated requests over roles x institutions x
// studies x routes to a real gateway and counts answers that should not
// have been given: unauthorised 2xx, and QIDO rows a principal may not see.
// Both must be zero.
func TestAccessMatrix(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	// The matrix probes hundreds of refusals from one address: no failure limit.
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo", "--rate-limit", "0", "--fail-rate-limit", "0")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	do := func(tok, method, path string, hdr map[string]string, body []byte) (int, []byte) {
		h := map[string]string{"Accept": "*/*"}
		for k, v := range hdr {
			h[k] = v
		}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		var resp *http.Response
		var out []byte
		if body != nil {
			resp, out = gwtest.Do(t, method, root+path, h, bytes.NewReader(body))
		} else {
			resp, out = gwtest.Do(t, method, root+path, h, nil)
		}
		return resp.StatusCode, out
	}
	mustJSON := func(tok, path string, v any) {
		code, b := do(tok, "GET", path, map[string]string{"Accept": "application/json, application/dicom+json"}, nil)
		if code != 200 || json.Unmarshal(b, v) != nil {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
	}
	token := func(body map[string]string) string {
		b, _ := json.Marshal(body)
		code, out := do(admin, "POST", "/api/v1/admin/tokens", map[string]string{"Content-Type": "application/json"}, b)
		var r struct{ Token string }
		if code != 201 || json.Unmarshal(out, &r) != nil {
			t.Fatalf("create token %v: %d %s", body, code, out)
		}
		return r.Token
	}

	// Every study with its holding institution and one instance.
	type study struct{ uid, series, sop, holding, patient string }
	var rows []map[string]struct{ Value []any }
	mustJSON(admin, "/dicomweb/instances?includefield=00100020,00100021", &rows)
	byStudy := map[string]*study{}
	var studies []*study
	for _, r := range rows {
		uid := fmt.Sprint(r["0020000D"].Value[0])
		if byStudy[uid] != nil {
			continue
		}
		s := &study{uid: uid, series: fmt.Sprint(r["0020000E"].Value[0]), sop: fmt.Sprint(r["00080018"].Value[0])}
		if len(r["00100021"].Value) > 0 && len(r["00100020"].Value) > 0 {
			s.patient = fmt.Sprint(r["00100021"].Value[0]) + "|" + fmt.Sprint(r["00100020"].Value[0])
		}
		var tag struct {
			Tag struct {
				Holding string `json:"holding_institution"`
			} `json:"tag"`
		}
		mustJSON(admin, "/api/v1/recognition/studies/"+uid, &tag)
		s.holding = tag.Tag.Holding
		byStudy[uid] = s
		studies = append(studies, s)
	}
	insts := map[string]bool{}
	for _, s := range studies {
		if s.holding != "" {
			insts[s.holding] = true
		}
	}
	type principal struct {
		name, role, inst, tok string
	}
	var principals []principal
	for inst := range insts {
		principals = append(principals, principal{"clinician@" + inst, "clinician", inst, token(map[string]string{"role": "clinician", "institution": inst, "user": "dr"})})
		principals = append(principals, principal{"pacs@" + inst, "pacs", inst, token(map[string]string{"role": "pacs", "institution": inst, "user": "pacs"})})
	}
	principals = append(principals,
		principal{"peer", "peer", "", token(map[string]string{"role": "peer", "user": "other-province"})},
		principal{"patient(unlinked)", "patient", "", token(map[string]string{"role": "patient", "user": "p", "person_key": strings.Repeat("ab", 32)})},
		principal{"anonymous", "", "", ""},
		principal{"forged", "", "", "gw_ops_0123456789abcdefghijklmnoX"},
	)
	// One patient is linked to a person, who consents to one other
	// institution; that person also gets a patient token.
	var linked *study
	for _, s := range studies {
		if s.patient != "" && s.holding != "" {
			linked = s
			break
		}
	}
	if linked == nil {
		t.Fatal("no study with an issuer to link")
	}
	issuer, pid, _ := strings.Cut(linked.patient, "|")
	lb, _ := json.Marshal(map[string]string{"issuer": issuer, "patient_id": pid, "national_id": nationalID("11010519491231002")})
	code, out := do(admin, "POST", "/api/v1/persons/links", map[string]string{"Content-Type": "application/json"}, lb)
	var link struct {
		PersonKey string `json:"person_key"`
	}
	if code != 200 || json.Unmarshal(out, &link) != nil {
		t.Fatalf("link: %d %s", code, out)
	}
	var grantee string
	for inst := range insts {
		if inst != linked.holding {
			grantee = inst
			break
		}
	}
	cb, _ := json.Marshal(map[string]any{"person_key": link.PersonKey, "grantee_kind": "institution", "grantee_id": grantee, "days": 30})
	if code, out := do(admin, "POST", "/api/v1/patient/consents", map[string]string{"Content-Type": "application/json"}, cb); code != 201 {
		t.Fatalf("consent: %d %s", code, out)
	}
	principals = append(principals, principal{"patient(linked)", "patient", "", token(map[string]string{"role": "patient", "user": "p2", "person_key": link.PersonKey})})
	allowed := func(pr principal, s *study) bool {
		samePerson := s.patient != "" && s.patient == linked.patient
		switch pr.role {
		case "clinician":
			return pr.inst == s.holding || (pr.inst == grantee && samePerson)
		case "patient":
			return pr.name == "patient(linked)" && samePerson
		}
		return false
	}

	requests, bad2xx, foreignRows := 0, 0, 0
	for _, pr := range principals {
		// QIDO at every level: no row of a study the principal may not see.
		for _, path := range []string{"/dicomweb/studies", "/dicomweb/series", "/dicomweb/instances"} {
			requests++
			code, b := do(pr.tok, "GET", path, map[string]string{"Accept": "application/dicom+json"}, nil)
			if code/100 != 2 {
				continue
			}
			var got []map[string]struct{ Value []any }
			json.Unmarshal(b, &got)
			for _, r := range got {
				if s := byStudy[fmt.Sprint(r["0020000D"].Value[0])]; s == nil || !allowed(pr, s) {
					foreignRows++
					t.Errorf("%s sees a row of study %v in %s", pr.name, r["0020000D"].Value, path)
				}
			}
		}
		for _, s := range studies {
			inst := "/dicomweb/studies/" + s.uid + "/series/" + s.series + "/instances/" + s.sop
			for _, path := range []string{
				"/dicomweb/studies/" + s.uid + "/metadata",
				"/dicomweb/studies/" + s.uid + "/series",
				"/dicomweb/studies/" + s.uid,
				"/dicomweb/studies/" + s.uid + "/series/" + s.series + "/metadata",
				inst, inst + "/metadata", inst + "/frames/1", inst + "/rendered", inst + "/thumbnail",
				"/dicomweb/studies/" + s.uid + "/rendered",
				"/dicomweb/wado?requestType=WADO&studyUID=" + s.uid + "&seriesUID=" + s.series + "&objectUID=" + s.sop,
				"/api/v1/recognition/studies/" + s.uid,
			} {
				requests++
				code, b := do(pr.tok, "GET", path, nil, nil)
				if strings.HasSuffix(path, "/series") && code == 200 && strings.TrimSpace(string(b)) == "[]" {
					// A search in an unseen study finds nothing, exactly as
					// in a study that does not exist: no leak.
					continue
				}
				if allowed(pr, s) && strings.HasSuffix(path, "/metadata") && code != 200 {
					t.Errorf("%s was refused its own institution's %s: %d", pr.name, path, code)
				}
				if code/100 == 2 && !allowed(pr, s) {
					bad2xx++
					t.Errorf("%s got %d for %s (holding %s)", pr.name, code, path, s.holding)
				}
			}
		}
		// Admin-only and store routes.
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/admin/tokens"}, {"GET", "/api/v1/admin/audit"}, {"GET", "/metrics"},
		} {
			requests++
			if code, _ := do(pr.tok, c.method, c.path, nil, nil); code/100 == 2 {
				bad2xx++
				t.Errorf("%s got %d for %s %s", pr.name, code, c.method, c.path)
			}
		}
		if pr.role != "pacs" {
			requests++
			body, ct := gwtest.Multipart([]gwtest.Part{{Body: (gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.55.3", gwtest.Minimal("1.2.826.0.1.55", "1.2.826.0.1.55.2", "1.2.826.0.1.55.3")))}})
			if code, _ := do(pr.tok, "POST", "/dicomweb/studies", map[string]string{"Content-Type": ct}, body); code/100 == 2 {
				bad2xx++
				t.Errorf("%s could store", pr.name)
			}
		}
	}
	t.Logf("consent: person of %s (held by %s) consented to %s", linked.uid, linked.holding, grantee)
	t.Logf("access matrix: %d principals x %d studies, %d requests; unauthorised 2xx %d, foreign QIDO rows %d",
		len(principals), len(studies), requests, bad2xx, foreignRows)
	fmt.Printf("ACCESS: requests=%d unauthorised_2xx=%d foreign_rows=%d\n", requests, bad2xx, foreignRows)
	if len(studies) < 4 || len(insts) < 2 {
		t.Fatalf("the demo data is too small for a matrix: %d studies, %d institutions", len(studies), len(insts))
	}
}
