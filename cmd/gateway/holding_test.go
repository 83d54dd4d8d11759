package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// demoGateway is a real gateway process with the demo data, an admin
// token and helpers to call it.
type demoGateway struct {
	t     *testing.T
	p     *proc
	root  string
	admin string
}

func startDemoGateway(t *testing.T) *demoGateway {
	t.Helper()
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo", "--rate-limit", "0")
	return &demoGateway{t: t, p: p, root: strings.TrimSuffix(p.base, "/dicomweb"), admin: admin}
}

// call sends a request (body, when not nil, as JSON) and returns the
// status and the answer.
func (g *demoGateway) call(tok, method, path string, body any) (int, string) {
	g.t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + tok, "Accept": "application/json, application/dicom+json"}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	var resp *http.Response
	var out []byte
	if rd != nil {
		resp, out = gwtest.Do(g.t, method, g.root+path, hdr, rd)
	} else {
		resp, out = gwtest.Do(g.t, method, g.root+path, hdr, nil)
	}
	return resp.StatusCode, string(out)
}

// must is call that fails the test unless the status is want.
func (g *demoGateway) must(tok, method, path string, body any, want int) string {
	g.t.Helper()
	code, out := g.call(tok, method, path, body)
	if code != want {
		g.t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return out
}

func (g *demoGateway) token(role, institution, user string) string {
	g.t.Helper()
	var r struct{ Token string }
	json.Unmarshal([]byte(g.must(g.admin, "POST", "/api/v1/admin/tokens", map[string]string{"role": role, "institution": institution, "user": user}, 201)), &r)
	return r.Token
}

// demoTag is a study's recognition tag as the API answers it.
type demoTag struct {
	Study   string `json:"study"`
	Status  string `json:"status"`
	Holding string `json:"holding_institution"`
	Item    string `json:"item"`
}

// tag returns the tag of a study for an institution, asked by the admin.
func (g *demoGateway) tag(study, institution string) demoTag {
	g.t.Helper()
	var r struct{ Tag demoTag }
	json.Unmarshal([]byte(g.must(g.admin, "GET", "/api/v1/recognition/studies/"+study+"?institution="+institution, nil, 200)), &r)
	return r.Tag
}

// studies returns the UIDs of the stored studies.
func (g *demoGateway) studies() []string {
	g.t.Helper()
	var rows []map[string]struct{ Value []any }
	json.Unmarshal([]byte(g.must(g.admin, "GET", "/dicomweb/studies", nil, 200)), &rows)
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r["0020000D"].Value[0]))
	}
	return out
}

// sees reports whether tok finds the study in QIDO and may read its
// metadata.
func (g *demoGateway) sees(tok, study string) bool {
	g.t.Helper()
	var rows []any
	json.Unmarshal([]byte(g.must(tok, "GET", "/dicomweb/studies?StudyInstanceUID="+study, nil, 200)), &rows)
	code, _ := g.call(tok, "GET", "/dicomweb/studies/"+study+"/metadata", nil)
	if (len(rows) == 1) != (code == 200) {
		g.t.Fatalf("QIDO (%d rows) and metadata (%d) disagree on study %s", len(rows), code, study)
	}
	return code == 200
}

// stow stores one instance with tok and returns the status and answer.
func (g *demoGateway) stow(tok string, instance []byte) (int, string) {
	g.t.Helper()
	body, ct := gwtest.Multipart([]gwtest.Part{{Body: instance}})
	resp, out := gwtest.Do(g.t, "POST", g.p.base+"/studies", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": ct, "Accept": "application/dicom+json"}, bytes.NewReader(body))
	return resp.StatusCode, string(out)
}

// instance builds a small valid instance of a study; institutionName and
// issuer are left out when empty.
func instance(study, series, sop, institutionName, issuer string) []byte {
	var ds bytes.Buffer
	ds.Write(gwtest.Elem(0x0008, 0x0005, "CS", gwtest.Str("ISO_IR 192", ' ')))
	ds.Write(gwtest.Elem(0x0008, 0x0016, "UI", gwtest.Str("1.2.840.10008.5.1.4.1.1.7", 0)))
	ds.Write(gwtest.Elem(0x0008, 0x0018, "UI", gwtest.Str(sop, 0)))
	ds.Write(gwtest.Elem(0x0008, 0x0060, "CS", gwtest.Str("OT", ' ')))
	if institutionName != "" {
		ds.Write(gwtest.Elem(0x0008, 0x0080, "LO", gwtest.Str(institutionName, ' ')))
	}
	ds.Write(gwtest.Elem(0x0010, 0x0010, "PN", gwtest.Str("FORGED^PATIENT", ' ')))
	ds.Write(gwtest.Elem(0x0010, 0x0020, "LO", gwtest.Str("FORGED1", ' ')))
	if issuer != "" {
		ds.Write(gwtest.Elem(0x0010, 0x0021, "LO", gwtest.Str(issuer, ' ')))
	}
	ds.Write(gwtest.Elem(0x0020, 0x000D, "UI", gwtest.Str(study, 0)))
	ds.Write(gwtest.Elem(0x0020, 0x000E, "UI", gwtest.Str(series, 0)))
	ds.Write(gwtest.Elem(0x0020, 0x0013, "IS", gwtest.Str("1", ' ')))
	return gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, ds.Bytes())
}

// registered returns the name (English when it has one) and first issuer
// of each registered institution.
func (g *demoGateway) registered() map[string][2]string {
	g.t.Helper()
	var reg struct {
		Institutions []struct {
			ID      string   `json:"id"`
			Name    string   `json:"name"`
			NameEN  string   `json:"name_en"`
			Issuers []string `json:"issuers"`
		}
	}
	json.Unmarshal([]byte(g.must(g.admin, "GET", "/api/v1/institutions", nil, 200)), &reg)
	out := map[string][2]string{}
	for _, in := range reg.Institutions {
		name := in.NameEN
		if name == "" {
			name = in.Name
		}
		issuer := ""
		if len(in.Issuers) > 0 {
			issuer = in.Issuers[0]
		}
		out[in.ID] = [2]string{name, issuer}
	}
	return out
}

// TestStudyHijackByStowRefused reproduces finding 2 of issue 14: a PACS of
// institution A stores an instance with B's StudyInstanceUID, its
// InstitutionName and IssuerOfPatientID removed, or claiming A's own. The
// instance is refused (0x0124 with a comment), the study stays B's, and
// only an administrator moves it, audited.
func TestStudyHijackByStowRefused(t *testing.T) {
	g := startDemoGateway(t)
	reg := g.registered()
	var study, b, a string
	for _, uid := range g.studies() {
		if h := g.tag(uid, "").Holding; h != "" {
			study, b = uid, h
			break
		}
	}
	for id := range reg {
		if id != b && reg[id][1] != "" {
			a = id
			break
		}
	}
	if study == "" || a == "" {
		t.Fatal("the demo data lacks a held study and a second institution")
	}
	pacsA, pacsB := g.token("pacs", a, "pacs-a"), g.token("pacs", b, "pacs-b")
	clinA, clinB := g.token("clinician", a, "dr.a"), g.token("clinician", b, "dr.b")
	if !g.sees(clinB, study) || g.sees(clinA, study) {
		t.Fatalf("before: %s should see its study %s and %s not", b, study, a)
	}
	count := func() int {
		var rows []any
		json.Unmarshal([]byte(g.must(g.admin, "GET", "/dicomweb/studies/"+study+"/instances", nil, 200)), &rows)
		return len(rows)
	}
	before := count()

	n := 0
	forged := func(name, issuer string) []byte {
		n++
		return instance(study, fmt.Sprintf("%s.77.%d", study, n), fmt.Sprintf("%s.77.%d.1", study, n), name, issuer)
	}
	for _, c := range []struct{ name, institutionName, issuer string }{
		{"InstitutionName and IssuerOfPatientID removed", "", ""},
		{"claims A's institution name", reg[a][0], ""},
		{"claims A's name and issuer", reg[a][0], reg[a][1]},
		{"claims B's name", reg[b][0], reg[b][1]},
	} {
		code, out := g.stow(pacsA, forged(c.institutionName, c.issuer))
		if code != 409 || !strings.Contains(out, fmt.Sprint(0x0124)) {
			t.Errorf("%s: %d %s, want 409 with FailureReason 292 (0x0124)", c.name, code, out)
		}
		if c.institutionName == "" && !strings.Contains(out, "study "+study+" is held by another institution") {
			t.Errorf("%s: the comment does not say why: %s", c.name, out)
		}
	}
	if got := count(); got != before {
		t.Errorf("refused instances were stored: %d instances, was %d", got, before)
	}
	if h := g.tag(study, "").Holding; h != b {
		t.Errorf("holding institution is now %q, want %q", h, b)
	}
	if !g.sees(clinB, study) || g.sees(clinA, study) {
		t.Fatalf("after the attempts: %s should still see %s and %s not", b, study, a)
	}

	// The holder's PACS adds to its study; an admin stores anything, and
	// neither moves the study, whatever the instance says.
	if code, out := g.stow(pacsB, forged("", "")); code != 200 {
		t.Fatalf("the holder's PACS adds an instance: %d %s", code, out)
	}
	if code, out := g.stow(g.admin, forged(reg[a][0], reg[a][1])); code != 200 {
		t.Fatalf("admin stores an instance naming %s: %d %s", a, code, out)
	}
	if h := g.tag(study, "").Holding; h != b || g.sees(clinA, study) {
		t.Fatalf("ingest moved the study to %q (want %s)", h, b)
	}

	// Only the admin route moves it, validated and audited.
	path := "/api/v1/admin/studies/" + study + "/holding"
	g.must(clinB, "PUT", path, map[string]string{"institution": a}, 403)
	g.must(pacsA, "PUT", path, map[string]string{"institution": a}, 403)
	if out := g.must(g.admin, "PUT", path, map[string]string{"institution": "mars"}, 400); !strings.Contains(out, "not in the registry") {
		t.Errorf("unknown institution: %s", out)
	}
	g.must(g.admin, "PUT", path, map[string]string{}, 400)
	g.must(g.admin, "PUT", "/api/v1/admin/studies/1.2.3.999/holding", map[string]string{"institution": a}, 404)
	if out := g.must(g.admin, "PUT", path, map[string]string{"institution": a}, 200); !strings.Contains(out, `"previous_holding_institution":"`+b+`"`) {
		t.Errorf("move: %s", out)
	}
	if h := g.tag(study, "").Holding; h != a || !g.sees(clinA, study) || g.sees(clinB, study) {
		t.Fatalf("after the move to %s: holding %q, %s sees %v, %s sees %v", a, h, a, g.sees(clinA, study), b, g.sees(clinB, study))
	}
	if code, out := g.stow(pacsB, forged("", "")); code != 409 {
		t.Errorf("the former holder's PACS after the move: %d %s", code, out)
	}
	if code, out := g.stow(pacsA, forged("", "")); code != 200 {
		t.Errorf("the new holder's PACS after the move: %d %s", code, out)
	}
	// A new study without names, in one request of two instances: the
	// second is admitted (the first PACS's claim), and the study is A's.
	fresh := "1.2.826.0.1.3680043.10.777"
	body, ct := gwtest.Multipart([]gwtest.Part{
		{Body: instance(fresh, fresh+".1", fresh+".1.1", "", "")},
		{Body: instance(fresh, fresh+".1", fresh+".1.2", "", "")},
	})
	resp, out := gwtest.Do(t, "POST", g.p.base+"/studies", map[string]string{"Authorization": "Bearer " + pacsA, "Content-Type": ct, "Accept": "application/dicom+json"}, bytes.NewReader(body))
	if resp.StatusCode != 200 || g.tag(fresh, "").Holding != a || !g.sees(clinA, fresh) || g.sees(clinB, fresh) {
		t.Errorf("a new study of %s in one request: %d %s, holding %q", a, resp.StatusCode, out, g.tag(fresh, "").Holding)
	}
	if code, out := g.stow(pacsB, instance(fresh, fresh+".2", fresh+".2.1", reg[b][0], reg[b][1])); code != 409 {
		t.Errorf("%s's PACS adds to %s's new study: %d %s", b, a, code, out)
	}

	want := fmt.Sprintf("holding institution moved from %s to %s", b, a)
	var seen bool
	for i := 0; i < 50 && !seen; i++ {
		for _, ln := range strings.Split(g.must(g.admin, "GET", "/api/v1/admin/audit", nil, 200), "\n") {
			var ev audit.Event
			if json.Unmarshal([]byte(ln), &ev) == nil && ev.Detail == want && ev.Study == study && ev.Role == "admin" && ev.Outcome == 200 {
				seen = true
			}
		}
		if !seen {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !seen {
		t.Errorf("no audit event %q for study %s", want, study)
	}
}

// TestRecognitionAPIHidesWhatOneMayNotSee reproduces findings 6 and 7 of
// issue 14: the recognition API answered any clinician about any study
// (tag, eligibility), listed every institution's decisions, and took
// decisions (and counted savings) on studies the clinician may not see,
// with a 409 that told status, item and dates. A study one may not see
// now answers exactly as one that does not exist.
func TestRecognitionAPIHidesWhatOneMayNotSee(t *testing.T) {
	g := startDemoGateway(t)
	reg := g.registered()
	// R: held by H and recognisable for H and for another institution O.
	// N: not recognisable for its holder HN.
	var r, h, o, n, hn string
	for _, uid := range g.studies() {
		holder := g.tag(uid, "").Holding
		if holder == "" {
			continue
		}
		own := g.tag(uid, holder)
		if own.Status != "RECOGNISED" && n == "" {
			n, hn = uid, holder
		}
		if own.Status != "RECOGNISED" || r != "" {
			continue
		}
		for id := range reg {
			if id != holder && g.tag(uid, id).Status == "RECOGNISED" {
				r, h, o = uid, holder, id
				break
			}
		}
	}
	if r == "" || n == "" {
		t.Fatal("the demo data lacks a study recognisable across institutions and one that is not recognisable")
	}
	x := "" // an institution that neither holds R nor decides on it
	for id := range reg {
		if id != h && id != o && id != hn {
			x = id
			break
		}
	}
	clin := map[string]string{}
	for _, id := range []string{h, o, x, hn} {
		if clin[id] == "" {
			clin[id] = g.token("clinician", id, "dr."+id)
		}
	}
	const none = "1.2.826.0.1.3680043.10.999.404"
	sameAsNone := func(what, uid, got string, gotCode int, noneOut string, noneCode int) {
		t.Helper()
		if gotCode != 404 || noneCode != 404 || strings.ReplaceAll(got, uid, "UID") != strings.ReplaceAll(noneOut, none, "UID") {
			t.Errorf("%s: %d %s; a study that does not exist: %d %s", what, gotCode, got, noneCode, noneOut)
		}
	}

	// Finding 6: the tag and the eligibility of a study one may not see.
	code, out := g.call(clin[o], "GET", "/api/v1/recognition/studies/"+r, nil)
	noneCode, noneOut := g.call(clin[o], "GET", "/api/v1/recognition/studies/"+none, nil)
	sameAsNone("GET the tag of a study of another institution", r, out, code, noneOut, noneCode)
	if out := g.must(clin[h], "GET", "/api/v1/recognition/studies/"+r, nil, 200); !strings.Contains(out, `"holding_institution":"`+h+`"`) {
		t.Errorf("the holder's clinician reads its study's tag: %s", out)
	}

	// Finding 7: decisions on a study one may not see are refused as if
	// it did not exist, and count nothing.
	stats := func() string { return g.must(g.admin, "GET", "/api/v1/recognition/statistics", nil, 200) }
	before := stats()
	accept := func(study string) map[string]string {
		return map[string]string{"study": study, "order": "MZ-1", "outcome": "accept"}
	}
	code, out = g.call(clin[o], "POST", "/api/v1/recognition/decisions", accept(r))
	noneCode, noneOut = g.call(clin[o], "POST", "/api/v1/recognition/decisions", accept(none))
	sameAsNone("POST a decision on a study of another institution", r, out, code, noneOut, noneCode)
	for i := 0; i < 5; i++ {
		g.call(clin[o], "POST", "/api/v1/recognition/decisions", accept(r))
	}
	if after := stats(); after != before {
		t.Errorf("refused decisions were counted:\nbefore %s\nafter  %s", before, after)
	}
	// The 409 of a study one may not see says nothing; of one's own, why.
	code, out = g.call(clin[x], "POST", "/api/v1/recognition/decisions", accept(n))
	sameAsNone("POST a decision on another institution's unrecognisable study", n, out, code, noneOut, noneCode)
	st := g.tag(n, hn).Status
	if out := g.must(clin[hn], "POST", "/api/v1/recognition/decisions", accept(n), 409); !strings.Contains(out, st) {
		t.Errorf("the holder's 409 should say why (%s): %s", st, out)
	}

	// Listing: one's own institution's decisions and those on studies one
	// may see; the admin all.
	var byO, byH struct{ ID string }
	json.Unmarshal([]byte(g.must(g.admin, "POST", "/api/v1/recognition/decisions",
		map[string]string{"study": r, "institution": o, "order": "MZ-O", "outcome": "accept", "text": "for O"}, 201)), &byO)
	json.Unmarshal([]byte(g.must(clin[h], "POST", "/api/v1/recognition/decisions",
		map[string]string{"study": r, "order": "MZ-H", "outcome": "refuse", "reason": "other", "text": "private note of H"}, 201)), &byH)
	list := func(tok, query string) string {
		return g.must(tok, "GET", "/api/v1/recognition/decisions"+query, nil, 200)
	}
	for _, c := range []struct {
		who, tok, query string
		wantO, wantH    bool
	}{
		{"admin", g.admin, "", true, true},
		{"holder " + h, clin[h], "", true, true},
		{"decider " + o, clin[o], "", true, false},
		{"stranger " + x, clin[x], "", false, false},
		{"stranger " + x + " by study", clin[x], "?study=" + r, false, false},
		{"stranger " + x + " by institution", clin[x], "?institution=" + h, false, false},
	} {
		got := list(c.tok, c.query)
		if strings.Contains(got, byO.ID) != c.wantO || strings.Contains(got, byH.ID) != c.wantH {
			t.Errorf("%s lists O's decision %v (want %v) and H's %v (want %v): %s",
				c.who, strings.Contains(got, byO.ID), c.wantO, strings.Contains(got, byH.ID), c.wantH, got)
		}
		if !c.wantO && !c.wantH && strings.Contains(got, r) {
			t.Errorf("%s learns of study %s: %s", c.who, r, got)
		}
	}
}
