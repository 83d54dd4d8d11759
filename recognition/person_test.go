package recognition

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/storage"
)

// admin is the principal of administrators' link changes.
var admin = auth.Principal{Role: auth.RoleAdmin, User: "ops"}

// nationalID completes 17 digits with their GB 11643 check character.
func nationalID(body string) string {
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

func TestPersonKey(t *testing.T) {
	secret := []byte("0123456789abcdef")
	id := nationalID("11010519491231002")
	k1, err := PersonKey(secret, id)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := PersonKey(secret, strings.ToLower(" "+id+" "))
	k3, _ := PersonKey([]byte("another secret, another key"), id)
	if k1 != k2 || k1 == k3 || !validPersonKey(k1) {
		t.Errorf("keys %s %s %s", k1, k2, k3)
	}
	for _, bad := range []string{"", "123", id[:17] + "0", "A" + id[1:]} {
		if bad == id {
			continue
		}
		if _, err := PersonKey(secret, bad); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), id[:6]) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := PersonKey(nil, id); err == nil {
		t.Error("no secret accepted")
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "person-key")
	s1, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := LoadOrCreateSecret(path)
	if err != nil || string(s1) != string(s2) || len(s1) != 32 {
		t.Fatalf("reload: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
}

// TestLinksAndOrderCheck links two hospitals' patient IDs to one person and
// runs the order check by each way of naming the patient; the national
// identifier is stored nowhere.
func TestLinksAndOrderCheck(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ctSH := fx.study(t, "CT", "zsh-fdu")
	ctJS := fx.study(t, "CT", "jsph")
	refOf := func(study string) PatientRef {
		e, err := fx.svc.Eligibility(ctx, study)
		if err != nil {
			t.Fatal(err)
		}
		row, _ := fx.db.Study(study)
		return PatientRef{Issuer: e.Issuer, PatientID: row.Attrs.String(tagPatientID)}
	}
	sh, js := refOf(ctSH), refOf(ctJS)
	id := nationalID("31010419800101123")
	res, err := fx.svc.Link(ctx, admin, LinkRequest{NationalID: id, PatientRef: sh})
	if err != nil {
		t.Fatal(err)
	}
	key := res.PersonKey
	if r, err := fx.svc.Link(ctx, admin, LinkRequest{PersonKey: key, PatientRef: js}); err != nil || r.PersonKey != key || r.Outcome != LinkAdded {
		t.Fatalf("second link: %+v %v", r, err)
	}
	if r, err := fx.svc.Link(ctx, admin, LinkRequest{NationalID: id, PatientRef: js}); err != nil || r.PersonKey != key || r.Outcome != LinkUnchanged {
		t.Fatalf("same link again: %+v %v", r, err)
	}
	other := nationalID("31010419800101124")
	if _, err := fx.svc.Link(ctx, admin, LinkRequest{NationalID: other, PatientRef: js}); !errors.Is(err, ErrConflict) {
		t.Errorf("relink to another person: %v", err)
	}

	fx.now = at(t, "2026-11-26", 0)
	for name, req := range map[string]OrderRequest{
		"national id": {NationalID: id},
		"person key":  {PersonKey: key},
		"patient ref": {Issuer: sh.Issuer, PatientID: sh.PatientID},
	} {
		t.Run(name, func(t *testing.T) {
			req.Institution, req.Item = "fahzu", "CT01"
			res, err := fx.svc.CheckOrder(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Status{}
			for _, h := range res.Results {
				got[h.Study] = h.Status
			}
			tagSH, _ := fx.svc.Tag(ctx, ctSH, "fahzu")
			tagJS, _ := fx.svc.Tag(ctx, ctJS, "fahzu")
			want := map[string]Status{ctSH: tagSH.Status, ctJS: tagJS.Status}
			if len(got) != 2 || got[ctSH] != want[ctSH] || got[ctJS] != want[ctJS] {
				t.Errorf("results %v, want %v", got, want)
			}
			if !res.Recognisable || !res.Results[0].Recognised() {
				t.Errorf("recognisable %v, first %s", res.Recognisable, res.Results[0].Status)
			}
		})
	}
	// Bad input.
	for name, c := range map[string]struct {
		req  OrderRequest
		want error
	}{
		"unknown item":        {OrderRequest{Institution: "fahzu", Item: "XX99", PersonKey: key}, ErrInvalid},
		"unknown institution": {OrderRequest{Institution: "mars", Item: "CT01", PersonKey: key}, ErrNotFound},
		"no institution":      {OrderRequest{Item: "CT01", PersonKey: key}, ErrInvalid},
		"no patient":          {OrderRequest{Institution: "fahzu", Item: "CT01"}, ErrInvalid},
		"both":                {OrderRequest{Institution: "fahzu", Item: "CT01", PersonKey: key, Issuer: "A", PatientID: "B"}, ErrInvalid},
		"bad national id":     {OrderRequest{Institution: "fahzu", Item: "CT01", NationalID: "12345"}, ErrInvalid},
	} {
		if _, err := fx.svc.CheckOrder(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A person nobody linked answers as one without results.
	if res, err := fx.svc.CheckOrder(ctx, OrderRequest{Institution: "fahzu", Item: "CT01", NationalID: other}); err != nil || len(res.Results) != 0 || res.NeedsConsent {
		t.Errorf("unlinked person: %+v %v", res, err)
	}
	// The raw identifier is in no object.
	if err := fx.store.List(ctx, "", func(oi storage.ObjectInfo) error {
		rc, err := fx.store.Get(ctx, oi.Key, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if strings.Contains(string(b), id) || strings.Contains(string(b), id[:17]) {
			t.Errorf("national id stored in %s", oi.Key)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// consentFacts is consent.Facts, restated to check the methods' shapes
// without importing consent.
type consentFacts interface {
	StudyInstitution(ctx context.Context, st *index.Study) string
	StudyPerson(ctx context.Context, st *index.Study) string
	StudyItems(ctx context.Context, st *index.Study) []string
	Regions(institution string) []string
}

var _ consentFacts = (*Service)(nil)

// TestFactsForConsent: holding institution, person, items and regions.
func TestFactsForConsent(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	study := fx.study(t, "CT", "jsph")
	row, _ := fx.db.Study(study)
	if got := fx.svc.StudyInstitution(ctx, row); got != "jsph" {
		t.Errorf("institution %q", got)
	}
	if got := fx.svc.StudyItems(ctx, row); len(got) == 0 || got[0] != "CT01" {
		t.Errorf("items %v", got)
	}
	if got := fx.svc.Regions("jsph"); !slices.Equal(got, []string{"320000", "320100", "YRD"}) {
		t.Errorf("regions %v", got)
	}
	if fx.svc.StudyPerson(ctx, row) != "" || fx.svc.PersonKeyOf(study) != "" {
		t.Error("person before linking")
	}
	e, _ := fx.svc.Eligibility(ctx, study)
	res, err := fx.svc.Link(ctx, admin, LinkRequest{NationalID: nationalID("32010219750505123"), PatientRef: PatientRef{Issuer: e.Issuer, PatientID: row.Attrs.String(tagPatientID)}})
	if err != nil {
		t.Fatal(err)
	}
	key := res.PersonKey
	if fx.svc.StudyPerson(ctx, row) != key || fx.svc.PersonKeyOf(study) != key {
		t.Error("person after linking")
	}
	if k, linked := fx.svc.StudyLink(ctx, row); k != key || !linked.Equal(fx.now.UTC()) {
		t.Errorf("link %s at %v, want at %v", k, linked, fx.now)
	}
}

// TestLinkAccessAndUnlink: a clinician links only its own institution's
// patient IDs, by national ID, and learns neither the person key nor
// whether the ID was linked before (new, again, or to someone else: one
// answer); unlink undoes a link, after which the right one goes through.
func TestLinkAccessAndUnlink(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	js := PatientRef{Issuer: "JSPH", PatientID: "P-1"}
	jsph := auth.Principal{Role: auth.RoleClinician, Institution: "jsph", User: "dr.wang", TokenID: "t1"}
	zsh := auth.Principal{Role: auth.RoleClinician, Institution: "zsh-fdu", User: "dr.li"}
	idA, idB := nationalID("32010219750505123"), nationalID("32010219750505124")
	keyA, _ := PersonKey(fx.svc.opt.PersonKeySecret, idA)
	keyB, _ := PersonKey(fx.svc.opt.PersonKeySecret, idB)
	answer := func(r *LinkResult) string {
		b, _ := json.Marshal(r)
		return strings.ReplaceAll(string(b), r.PatientID, "ID")
	}
	linked := func(ref PatientRef) string {
		k, err := fx.svc.personOf(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	fresh, err := fx.svc.Link(ctx, jsph, LinkRequest{NationalID: idA, PatientRef: js})
	if err != nil || fresh.Outcome != LinkAdded || fresh.PersonKey != "" || strings.Contains(answer(fresh), keyA) {
		t.Fatalf("own issuer by national ID: %+v %v", fresh, err)
	}
	again, err := fx.svc.Link(ctx, jsph, LinkRequest{NationalID: idA, PatientRef: js})
	if err != nil || again.Outcome != LinkUnchanged {
		t.Fatalf("again: %+v %v", again, err)
	}
	conflict, err := fx.svc.Link(ctx, jsph, LinkRequest{NationalID: idB, PatientRef: js})
	if err != nil || conflict.Outcome != LinkConflict || linked(js) != keyA {
		t.Fatalf("to another person: %+v %v, linked to %s", conflict, err, linked(js))
	}
	other, err := fx.svc.Link(ctx, jsph, LinkRequest{NationalID: idB, PatientRef: PatientRef{Issuer: "JSPH", PatientID: "P-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b, c, d := answer(fresh), answer(again), answer(conflict), answer(other); a != b || a != c || a != d {
		t.Errorf("answers differ:\nnew      %s\nagain    %s\nconflict %s\nother    %s", a, b, c, d)
	}

	for name, c := range map[string]struct {
		by  auth.Principal
		req LinkRequest
	}{
		"another issuer":       {jsph, LinkRequest{NationalID: idA, PatientRef: PatientRef{Issuer: "ZSH-FDU", PatientID: "P-9"}}},
		"person key":           {jsph, LinkRequest{PersonKey: keyA, PatientRef: js}},
		"person key, own ref":  {jsph, LinkRequest{PersonKey: keyA, PatientRef: PatientRef{Issuer: "JSPH", PatientID: "P-3"}}},
		"patient":              {auth.Principal{Role: auth.RolePatient, PersonKey: keyA}, LinkRequest{NationalID: idA, PatientRef: js}},
		"peer":                 {auth.Principal{Role: auth.RolePeer, User: "other-province"}, LinkRequest{NationalID: idA, PatientRef: js}},
		"nobody":               {auth.Principal{}, LinkRequest{NationalID: idA, PatientRef: js}},
		"clinician, no instit": {auth.Principal{Role: auth.RoleClinician, User: "x"}, LinkRequest{NationalID: idA, PatientRef: js}},
	} {
		if _, err := fx.svc.Link(ctx, c.by, c.req); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("link, %s: %v, want forbidden", name, err)
		}
		if _, err := fx.svc.Unlink(ctx, c.by, c.req); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("unlink, %s: %v, want forbidden", name, err)
		}
	}
	if _, err := fx.svc.Unlink(ctx, zsh, LinkRequest{NationalID: idA, PatientRef: js}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("another institution unlinks: %v", err)
	}

	// Unlink by a clinician: one answer whether the named person was
	// linked or not; only the right one removes the link.
	wrong, err := fx.svc.Unlink(ctx, jsph, LinkRequest{NationalID: idB, PatientRef: js})
	if err != nil || wrong.Outcome != LinkAbsent || linked(js) != keyA {
		t.Fatalf("unlink naming another person: %+v %v", wrong, err)
	}
	right, err := fx.svc.Unlink(ctx, jsph, LinkRequest{NationalID: idA, PatientRef: js})
	if err != nil || right.Outcome != LinkRemoved || linked(js) != "" || answer(right) != answer(wrong) || right.PersonKey != "" {
		t.Fatalf("unlink: %+v %v; answers %s and %s", right, err, answer(right), answer(wrong))
	}
	if refs, _ := fx.svc.refsOf(ctx, keyA); slices.Contains(refs, js) {
		t.Errorf("person A still lists %v", js)
	}
	// The wrong link no longer blocks the right one.
	if r, err := fx.svc.Link(ctx, jsph, LinkRequest{NationalID: idB, PatientRef: js}); err != nil || r.Outcome != LinkAdded || linked(js) != keyB {
		t.Fatalf("link after unlink: %+v %v", r, err)
	}
	// Administrators: any issuer, by key, get the key, a conflict is a
	// conflict; an unlink naming nobody removes whatever link there is.
	if _, err := fx.svc.Link(ctx, admin, LinkRequest{PersonKey: keyA, PatientRef: js}); !errors.Is(err, ErrConflict) {
		t.Errorf("admin conflict: %v", err)
	}
	r, err := fx.svc.Unlink(ctx, admin, LinkRequest{PatientRef: js})
	if err != nil || r.Outcome != LinkRemoved || r.PersonKey != keyB {
		t.Fatalf("admin unlink: %+v %v", r, err)
	}
	if r, err := fx.svc.Unlink(ctx, admin, LinkRequest{PatientRef: js}); err != nil || r.Status != StatusNotLinked {
		t.Errorf("admin unlink of nothing: %+v %v", r, err)
	}
	if r, err := fx.svc.Link(ctx, admin, LinkRequest{PersonKey: keyA, PatientRef: PatientRef{Issuer: "ZSH-FDU", PatientID: "P-9"}}); err != nil || r.PersonKey != keyA {
		t.Errorf("admin, another issuer, by key: %+v %v", r, err)
	}
	// A reference linked again after an unlink gets a new link time.
	fx.now = fx.now.Add(time.Hour)
	if _, err := fx.svc.Link(ctx, admin, LinkRequest{PersonKey: keyA, PatientRef: js}); err != nil {
		t.Fatal(err)
	}
	if l, _ := fx.svc.linkOf(ctx, js); !l.Linked.Equal(fx.now.UTC()) || l.Unlinked != nil {
		t.Errorf("relinked record %+v", l)
	}
}

// TestIssues: an institution issues the issuers it declares or, declaring
// none, its own id, unless another institution declares that id.
func TestIssues(t *testing.T) {
	fx := newFixture(t, func(corpus.Study) bool { return false })
	ctx := context.Background()
	for _, in := range []*Institution{
		{ID: "bare", Name: "无发号", Province: "320000"},
		{ID: "claimed", Name: "被占用", Province: "320000"},
		{ID: "claimer", Name: "占用者", Province: "320000", Issuers: []string{"claimed"}},
	} {
		if err := fx.svc.PutInstitution(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		inst, issuer string
		want         bool
	}{
		{"jsph", "JSPH", true}, {"jsph", "jsph", false}, {"jsph", "ZSH-FDU", false},
		{"bare", "bare", true}, {"bare", "BARE", false}, {"claimed", "claimed", false},
		{"claimer", "claimed", true}, {"mars", "mars", false}, {"jsph", "", false},
	} {
		if got := fx.svc.Issues(c.inst, c.issuer); got != c.want {
			t.Errorf("Issues(%s, %s) = %v, want %v", c.inst, c.issuer, got, c.want)
		}
	}
}
