package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// nationalID builds a valid 18-character resident identity number (GB
// 11643) for tests.
func nationalID(body17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range body17 {
		sum += int(c-'0') * w[i]
	}
	return body17 + string("10X98765432"[sum%11])
}

// TestConsentEndToEnd runs the real binary with authentication: a
// clinician of another institution cannot see a study until the patient
// consents, the order check meanwhile says a result exists but needs
// consent, and revoking hides the study again.
func TestConsentEndToEnd(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	call := func(tok, method, path string, body any, want int) []byte {
		t.Helper()
		hdr := map[string]string{"Authorization": "Bearer " + tok, "Accept": "application/json, application/dicom+json"}
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
			hdr["Content-Type"] = "application/json"
		}
		var resp *http.Response
		var out []byte
		if rd != nil {
			resp, out = gwtest.Do(t, method, root+path, hdr, rd)
		} else {
			resp, out = gwtest.Do(t, method, root+path, hdr, nil)
		}
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
		}
		return out
	}
	token := func(body map[string]string) string {
		var r struct{ Token string }
		json.Unmarshal(call(admin, "POST", "/api/v1/admin/tokens", body, 201), &r)
		return r.Token
	}

	// A study with a known holding institution and catalogue item.
	var studies []map[string]struct{ Value []any }
	json.Unmarshal(call(admin, "GET", "/dicomweb/studies?includefield=00100021", nil, 200), &studies)
	var study, holding, item, issuer, pid string
	for _, s := range studies {
		uid := fmt.Sprint(s["0020000D"].Value[0])
		var tag struct {
			Tag struct {
				Holding string `json:"holding_institution"`
				Item    string `json:"item"`
			} `json:"tag"`
			Holding string `json:"holding_institution"`
			Item    string `json:"item"`
		}
		json.Unmarshal(call(admin, "GET", "/api/v1/recognition/studies/"+uid, nil, 200), &tag)
		h, it := tag.Holding+tag.Tag.Holding, tag.Item+tag.Tag.Item
		if h != "" && it != "" && len(s["00100021"].Value) > 0 {
			study, holding, item = uid, h, it
			issuer, pid = fmt.Sprint(s["00100021"].Value[0]), fmt.Sprint(s["00100020"].Value[0])
			break
		}
	}
	if study == "" {
		t.Fatal("no demo study with a holding institution, an item and an issuer")
	}
	var reg struct {
		Institutions []struct{ ID string }
	}
	json.Unmarshal(call(admin, "GET", "/api/v1/institutions", nil, 200), &reg)
	other := ""
	for _, in := range reg.Institutions {
		if in.ID != holding && other == "" {
			other = in.ID
		}
	}
	own := token(map[string]string{"role": "clinician", "institution": holding, "user": "dr.own"})
	foreign := token(map[string]string{"role": "clinician", "institution": other, "user": "dr.foreign"})

	visible := func(tok string) bool {
		var got []map[string]struct{ Value []any }
		json.Unmarshal(call(tok, "GET", "/dicomweb/studies?StudyInstanceUID="+study, nil, 200), &got)
		return len(got) == 1
	}
	if !visible(own) {
		t.Fatal("the holding institution's clinician cannot see its own study")
	}
	if visible(foreign) {
		t.Fatal("a foreign clinician sees the study without consent")
	}
	call(foreign, "GET", "/dicomweb/studies/"+study+"/metadata", nil, 404)

	var link struct {
		PersonKey string `json:"person_key"`
	}
	json.Unmarshal(call(admin, "POST", "/api/v1/persons/links", map[string]string{"issuer": issuer, "patient_id": pid, "national_id": nationalID("11010519491231002")}, 200), &link)
	if len(link.PersonKey) != 64 {
		t.Fatalf("person link: %+v", link)
	}
	order := func() string {
		return string(call(foreign, "POST", "/api/v1/recognition/order-check", map[string]string{"institution": other, "item": item, "issuer": issuer, "patient_id": pid}, 200))
	}
	if o := order(); !strings.Contains(o, `"needs_consent":true`) || strings.Contains(o, study) {
		t.Fatalf("order check before consent should say a result exists but needs consent, without the study: %s", o)
	}

	patient := token(map[string]string{"role": "patient", "user": "patient", "person_key": link.PersonKey})
	var c struct{ ID string }
	json.Unmarshal(call(patient, "POST", "/api/v1/patient/consents", map[string]any{"grantee_kind": "institution", "grantee_id": other, "days": 30}, 201), &c)
	if !visible(foreign) {
		t.Fatal("consent given, yet the foreign clinician does not see the study")
	}
	call(foreign, "GET", "/dicomweb/studies/"+study+"/metadata", nil, 200)
	if o := order(); strings.Contains(o, `"needs_consent":true`) || !strings.Contains(o, study) {
		t.Fatalf("order check after consent: %s", o)
	}
	// The patient sees who looked.
	if log := string(call(patient, "GET", "/api/v1/patient/access-log", nil, 200)); !strings.Contains(log, other) {
		t.Fatalf("patient access log lacks the foreign institution: %s", log)
	}
	call(patient, "DELETE", "/api/v1/patient/consents/"+c.ID, nil, 200)
	if visible(foreign) {
		t.Fatal("revoked consent still shows the study")
	}
	// Regulators see the cross-institution access, allowed and refused.
	var rep struct {
		Rows []struct {
			Actor    string `json:"actor_institution"`
			Holding  string `json:"holding_institution"`
			Scope    string `json:"scope"`
			Allowed  int    `json:"allowed"`
			Refused  int    `json:"refused"`
			Requests int    `json:"requests"`
		}
	}
	json.Unmarshal(call(admin, "GET", "/api/v1/admin/audit/report", nil, 200), &rep)
	found := false
	for _, r := range rep.Rows {
		if r.Actor == other && r.Holding == holding {
			found = r.Allowed >= 1 && r.Refused >= 1 && r.Requests == r.Allowed+r.Refused && r.Scope != ""
		}
	}
	if !found {
		t.Fatalf("regulators' report lacks %s reading %s's study: %+v", other, holding, rep.Rows)
	}
	// Patients cannot grant for someone else; clinicians cannot use the patient API.
	call(patient, "POST", "/api/v1/patient/consents", map[string]any{"person_key": strings.Repeat("0", 64), "grantee_kind": "all"}, 403)
	call(foreign, "GET", "/api/v1/patient/consents", nil, 403)
}

// TestPACSStoresForItsOwnInstitutionOnly: a PACS token of one institution
// cannot store a study that the registry attributes to another; its own
// institution's studies go through.
func TestPACSStoresForItsOwnInstitutionOnly(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	man := smallCorpus(t, 4)
	// The registry names the corpus hospitals; find two files of different
	// institutions and the institution of the first.
	hdr := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}
	var owner string
	var own, foreign string
	for _, f := range man.Files {
		resp, b := gwtest.Do(t, "GET", root+"/api/v1/institutions", map[string]string{"Authorization": "Bearer " + admin}, nil)
		if resp.StatusCode != 200 {
			t.Fatal("institutions")
		}
		var reg struct {
			Institutions []struct {
				ID     string   `json:"id"`
				Name   string   `json:"name"`
				NameEN string   `json:"name_en"`
				Names  []string `json:"names"`
			}
		}
		json.Unmarshal(b, &reg)
		for _, in := range reg.Institutions {
			known := in.Name == f.InstitutionName || in.NameEN == f.InstitutionName
			for _, n := range in.Names {
				known = known || n == f.InstitutionName
			}
			if !known {
				continue
			}
			switch {
			case owner == "":
				owner, own = in.ID, man.Abs(f)
			case in.ID != owner && foreign == "":
				foreign = man.Abs(f)
			}
		}
	}
	if own == "" || foreign == "" {
		t.Skip("the corpus lacks two registered institutions")
	}
	b, _ := json.Marshal(map[string]string{"role": "pacs", "institution": owner, "user": "pacs-1"})
	resp, out := gwtest.Do(t, "POST", root+"/api/v1/admin/tokens", hdr, strings.NewReader(string(b)))
	var tok struct{ Token string }
	if resp.StatusCode != 201 || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("token: %d %s", resp.StatusCode, out)
	}
	stow := func(path string) (int, string) {
		body, ct := gwtest.Multipart(gwtest.FileParts(t, path))
		resp, out := gwtest.Do(t, "POST", p.base+"/studies", map[string]string{"Authorization": "Bearer " + tok.Token, "Content-Type": ct}, strings.NewReader(string(body)))
		return resp.StatusCode, string(out)
	}
	if code, out := stow(own); code != 200 {
		t.Fatalf("own institution's study: %d %s", code, out)
	}
	code, msg := stow(foreign)
	if code != 409 || !strings.Contains(msg, fmt.Sprint(0x0124)) || !strings.Contains(msg, "own institution") {
		t.Fatalf("another institution's study: %d %s, want 409 with FailureReason 292 (0x0124)", code, msg)
	}
}
