package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestIdentityRelinkAttack replays the attack of issue 14 (finding 1) on a
// real gateway: an admin links hospital A's patient to a person who
// consents to A; A's clinician then tries to link hospital B's patient to
// the same person, by person key and by national ID, to read B's study.
// Both are refused (403); when an admin links B's patient later, the older
// consent still does not open B's study (consents bind to what was linked
// when they were given), a newer one does. A clinician's link answers carry
// no person key and are the same for a new link, the same link again and
// a patient ID linked to someone else; unlink undoes a wrong link so that
// the right one goes through; order checks without consent say only that
// a result may exist; every link change is in the audit trail without the
// national ID or the person key.
func TestIdentityRelinkAttack(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo", "--rate-limit", "0")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	call := func(tok, method, path string, body any) (int, []byte) {
		t.Helper()
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
			resp, out = gwtest.Do(t, method, root+path, hdr, rd)
		} else {
			resp, out = gwtest.Do(t, method, root+path, hdr, nil)
		}
		return resp.StatusCode, out
	}
	must := func(tok, method, path string, body any, want int) []byte {
		t.Helper()
		code, out := call(tok, method, path, body)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
		return out
	}
	token := func(body map[string]string) string {
		var r struct{ Token string }
		json.Unmarshal(must(admin, "POST", "/api/v1/admin/tokens", body, 201), &r)
		return r.Token
	}

	// Two demo studies of different hospitals and patients, with issuers.
	type study struct{ uid, holding, item, issuer, pid string }
	var rows []map[string]struct{ Value []any }
	json.Unmarshal(must(admin, "GET", "/dicomweb/studies?includefield=00100021", nil, 200), &rows)
	var a, b *study
	for _, r := range rows {
		if len(r["00100021"].Value) == 0 || len(r["00100020"].Value) == 0 {
			continue
		}
		s := &study{uid: fmt.Sprint(r["0020000D"].Value[0]), issuer: fmt.Sprint(r["00100021"].Value[0]), pid: fmt.Sprint(r["00100020"].Value[0])}
		var tag struct {
			Tag struct {
				Holding string `json:"holding_institution"`
				Item    string `json:"item"`
			} `json:"tag"`
		}
		json.Unmarshal(must(admin, "GET", "/api/v1/recognition/studies/"+s.uid, nil, 200), &tag)
		s.holding, s.item = tag.Tag.Holding, tag.Tag.Item
		switch {
		case s.holding == "" || s.item == "":
		case a == nil:
			a = s
		case b == nil && s.holding != a.holding && s.issuer != a.issuer && s.pid != a.pid:
			b = s
		}
	}
	if a == nil || b == nil {
		t.Fatal("the demo lacks two studies of different hospitals with issuers and items")
	}
	var inst struct {
		Name string `json:"name"`
	}
	json.Unmarshal(must(admin, "GET", "/api/v1/institutions/"+b.holding, nil, 200), &inst)
	clinA := token(map[string]string{"role": "clinician", "institution": a.holding, "user": "dr.a"})
	clinB := token(map[string]string{"role": "clinician", "institution": b.holding, "user": "dr.b"})
	sees := func(tok string, s *study) bool {
		var got []map[string]any
		json.Unmarshal(must(tok, "GET", "/dicomweb/studies?StudyInstanceUID="+s.uid, nil, 200), &got)
		return len(got) == 1
	}
	linkBody := func(nid, key string, s *study) map[string]string {
		m := map[string]string{"issuer": s.issuer, "patient_id": s.pid}
		if nid != "" {
			m["national_id"] = nid
		}
		if key != "" {
			m["person_key"] = key
		}
		return m
	}
	nid, nid2, nid3 := nationalID("11010519491231002"), nationalID("11010519491231003"), nationalID("11010519491231004")

	// The set-up: the admin links A's patient, who consents to A.
	var link struct {
		PersonKey string `json:"person_key"`
	}
	json.Unmarshal(must(admin, "POST", "/api/v1/persons/links", linkBody(nid, "", a), 200), &link)
	key := link.PersonKey
	if len(key) != 64 {
		t.Fatalf("admin link answer lacks the person key: %+v", link)
	}
	must(admin, "POST", "/api/v1/patient/consents", map[string]any{"person_key": key, "grantee_kind": "institution", "grantee_id": a.holding, "days": 30}, 201)

	// A's clinician re-links A's patient: no person key, and one answer
	// for the same link again, a new link and a link to someone else.
	again := must(clinA, "POST", "/api/v1/persons/links", linkBody(nid, "", a), 200)
	if strings.Contains(string(again), key) || strings.Contains(string(again), "person_key") {
		t.Fatalf("a clinician got the person key: %s", again)
	}
	fresh := must(clinA, "POST", "/api/v1/persons/links", linkBody(nid2, "", &study{issuer: a.issuer, pid: a.pid + "-NEW"}), 200)
	elsewhere := must(clinA, "POST", "/api/v1/persons/links", linkBody(nid3, "", a), 200)
	if f := strings.ReplaceAll(string(fresh), a.pid+"-NEW", a.pid); f != string(again) || string(elsewhere) != string(again) {
		t.Errorf("link answers differ:\nagain     %s\nnew       %s\nelsewhere %s", again, fresh, elsewhere)
	}
	// The link to someone else changed nothing.
	must(admin, "POST", "/api/v1/persons/links", linkBody("", key, a), 200)

	// The attack: link B's patient to the person, by key, then by national ID.
	for name, body := range map[string]map[string]string{
		"by person key":  linkBody("", key, b),
		"by national ID": linkBody(nid, "", b),
	} {
		if code, out := call(clinA, "POST", "/api/v1/persons/links", body); code != 403 {
			t.Errorf("A's clinician links B's patient %s: %d %s, want 403", name, code, out)
		}
	}
	if sees(clinA, b) {
		t.Fatal("A's clinician sees B's study after the attack")
	}
	must(clinA, "GET", "/dicomweb/studies/"+b.uid+"/metadata", nil, 404)

	// An admin links B's patient to the person after the consent: the
	// consent does not extend to it.
	must(admin, "POST", "/api/v1/persons/links", linkBody("", key, b), 200)
	if sees(clinA, b) {
		t.Fatal("a consent given before the link opens B's study")
	}
	must(clinA, "GET", "/dicomweb/studies/"+b.uid+"/metadata", nil, 404)

	// Order check without consent: a result may exist, nothing more.
	order := string(must(clinA, "POST", "/api/v1/recognition/order-check", map[string]string{"item": b.item, "national_id": nid}, 200))
	if !strings.Contains(order, `"needs_consent":true`) {
		t.Errorf("order check without consent does not ask for it: %s", order)
	}
	for what, leak := range map[string]string{"study UID": b.uid, "holding institution": `"` + b.holding + `"`, "its name": inst.Name} {
		if leak != "" && leak != `""` && strings.Contains(order, leak) {
			t.Errorf("order check without consent names the %s: %s", what, order)
		}
	}

	// A consent given after the link covers it.
	patient := token(map[string]string{"role": "patient", "user": "patient", "person_key": key})
	must(patient, "POST", "/api/v1/patient/consents", map[string]any{"grantee_kind": "institution", "grantee_id": a.holding, "days": 30}, 201)
	if !sees(clinA, b) {
		t.Fatal("a consent given after the link does not open B's study")
	}
	if order := string(must(clinA, "POST", "/api/v1/recognition/order-check", map[string]string{"item": b.item, "national_id": nid}, 200)); !strings.Contains(order, b.uid) {
		t.Errorf("order check with consent does not list B's study: %s", order)
	}

	// The link was wrong: B's own clinician undoes it (A's may not), the
	// right link then goes through.
	nidRight := nationalID("11010519491231005")
	must(admin, "POST", "/api/v1/persons/links", linkBody(nidRight, "", b), 409)
	must(clinA, "POST", "/api/v1/persons/links/unlink", linkBody(nid, "", b), 403)
	if out := must(clinB, "POST", "/api/v1/persons/links/unlink", linkBody(nid, "", b), 200); !strings.Contains(string(out), `"unlinked"`) {
		t.Errorf("unlink answer: %s", out)
	}
	if sees(clinA, b) {
		t.Fatal("A's clinician still sees B's study after the unlink")
	}
	var right struct {
		PersonKey string `json:"person_key"`
	}
	json.Unmarshal(must(admin, "POST", "/api/v1/persons/links", linkBody(nidRight, "", b), 200), &right)
	if right.PersonKey == key || len(right.PersonKey) != 64 {
		t.Fatalf("the right link: %+v", right)
	}
	var removed struct {
		Status    string `json:"status"`
		PersonKey string `json:"person_key"`
	}
	json.Unmarshal(must(admin, "POST", "/api/v1/persons/links/unlink", map[string]string{"issuer": b.issuer, "patient_id": b.pid}, 200), &removed)
	if removed.Status != "unlinked" || removed.PersonKey != right.PersonKey {
		t.Errorf("admin unlink: %+v", removed)
	}

	// Peers, patients and PACS never change links.
	for _, who := range []map[string]string{
		{"role": "peer", "user": "other-province"},
		{"role": "pacs", "institution": a.holding, "user": "pacs"},
	} {
		tok := token(who)
		for _, path := range []string{"/api/v1/persons/links", "/api/v1/persons/links/unlink"} {
			if code, out := call(tok, "POST", path, linkBody(nid, "", a)); code != 403 {
				t.Errorf("%s: POST %s: %d %s", who["role"], path, code, out)
			}
		}
	}
	if code, out := call(patient, "POST", "/api/v1/persons/links", linkBody(nid, "", a)); code != 403 {
		t.Errorf("patient links: %d %s", code, out)
	}

	// The audit trail: every link change with its outcome, and neither
	// the national ID nor the person key in a detail.
	trail := must(admin, "GET", "/api/v1/admin/audit", nil, 200)
	details := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(trail))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Action, Detail string }
		json.Unmarshal(sc.Bytes(), &e)
		if strings.Contains(e.Detail, key) || strings.Contains(e.Detail, right.PersonKey) {
			t.Errorf("a person key in an audit detail: %s", e.Detail)
		}
		if f, _, _ := strings.Cut(e.Detail, " issuer="); f != "" {
			details[f]++
		}
	}
	if bytes.Contains(trail, []byte(nid[:17])) || bytes.Contains(trail, []byte(nidRight[:17])) {
		t.Error("a national ID in the audit trail")
	}
	for _, want := range []string{"person link added", "person link unchanged", "person link conflict", "person link removed", "person link change refused op=link", "person link change refused op=unlink"} {
		if details[want] == 0 {
			t.Errorf("no audit event %q; details %v", want, details)
		}
	}
	if !bytes.Contains(trail, []byte("order-check item="+b.item)) {
		t.Error("order checks are not audited")
	}
}
