package recognition

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

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
	key, err := fx.svc.Link(ctx, LinkRequest{NationalID: id, PatientRef: sh})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := fx.svc.Link(ctx, LinkRequest{PersonKey: key, PatientRef: js}); err != nil || k != key {
		t.Fatalf("second link: %v", err)
	}
	if k, err := fx.svc.Link(ctx, LinkRequest{NationalID: id, PatientRef: js}); err != nil || k != key {
		t.Fatalf("same link again: %v", err)
	}
	other := nationalID("31010419800101124")
	if _, err := fx.svc.Link(ctx, LinkRequest{NationalID: other, PatientRef: js}); !errors.Is(err, ErrConflict) {
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
		"unlinked person":     {OrderRequest{Institution: "fahzu", Item: "CT01", NationalID: other}, ErrNotFound},
		"bad national id":     {OrderRequest{Institution: "fahzu", Item: "CT01", NationalID: "12345"}, ErrInvalid},
	} {
		if _, err := fx.svc.CheckOrder(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
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
	key, err := fx.svc.Link(ctx, LinkRequest{NationalID: nationalID("32010219750505123"), PatientRef: PatientRef{Issuer: e.Issuer, PatientID: row.Attrs.String(tagPatientID)}})
	if err != nil {
		t.Fatal(err)
	}
	if fx.svc.StudyPerson(ctx, row) != key || fx.svc.PersonKeyOf(study) != key {
		t.Error("person after linking")
	}
}
