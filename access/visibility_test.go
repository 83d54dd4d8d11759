package access_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/recordstest"
)

// tableFacts answers Facts from fixed tables; the real implementation (the
// recognition service) is exercised by the end-to-end tests.
type tableFacts struct {
	inst    map[string]string
	person  map[string]string
	linked  map[string]time.Time // zero: linked before any consent
	items   map[string][]string
	regions map[string][]string
}

func (f tableFacts) StudyInstitution(_ context.Context, st *index.Study) string {
	return f.inst[st.UID]
}
func (f tableFacts) StudyPerson(_ context.Context, st *index.Study) string { return f.person[st.UID] }
func (f tableFacts) StudyLink(_ context.Context, st *index.Study) (string, time.Time) {
	return f.person[st.UID], f.linked[st.UID]
}
func (f tableFacts) StudyItems(_ context.Context, st *index.Study) []string { return f.items[st.UID] }
func (f tableFacts) Regions(i string) []string                              { return f.regions[i] }

// TestVisibility: the visibility rule, over consents kept by package
// consent (moved from consent.Service.Visible); no principal sees nothing.
func TestVisibility(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	pA, pB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	facts := tableFacts{
		inst:    map[string]string{"1.1": "sh-hosp", "1.2": "sh-hosp", "1.3": "bj-hosp"},
		person:  map[string]string{"1.1": pA, "1.2": pA, "1.3": pB},
		items:   map[string][]string{"1.1": {"CT-HEAD"}, "1.2": {"DR-CHEST"}},
		regions: map[string][]string{"hz-hosp": {"yrd"}, "sh-hosp": {"yrd"}, "bj-hosp": {"jjj"}},
	}
	rec, _ := recordstest.New(t)
	s, err := consent.New(ctx, rec, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	st := func(uid string) *index.Study { return &index.Study{UID: uid} }
	as := func(p auth.Principal) context.Context { return auth.WithPrincipal(ctx, p) }
	hz := auth.Principal{Role: auth.RoleClinician, Institution: "hz-hosp"}
	check := func(name string, p auth.Principal, study string, want bool) {
		t.Helper()
		if got := access.Visible(as(p), st(study), facts, s); got != want {
			t.Errorf("%s: visible(%s) = %v, want %v", name, study, got, want)
		}
	}
	check("own institution", auth.Principal{Role: auth.RoleClinician, Institution: "sh-hosp"}, "1.1", true)
	check("other institution, no consent", hz, "1.1", false)
	check("PACS never reads", auth.Principal{Role: auth.RolePACS, Institution: "sh-hosp"}, "1.1", false)
	check("admin", auth.Principal{Role: auth.RoleAdmin}, "1.3", true)
	check("patient, own", auth.Principal{Role: auth.RolePatient, PersonKey: pA}, "1.1", true)
	check("patient, other's", auth.Principal{Role: auth.RolePatient, PersonKey: pA}, "1.3", false)
	check("share scope", auth.Principal{Role: auth.RolePatient, Scope: "1.3"}, "1.3", true)
	check("share scope, other study", auth.Principal{Role: auth.RolePatient, Scope: "1.3"}, "1.1", false)
	if access.Visible(ctx, st("1.1"), facts, s) || access.NewVisibility(facts, s).Visible(ctx, st("1.3")) {
		t.Error("a study is visible without a principal")
	}

	// Region consent limited to CT-HEAD.
	c, err := s.Grant(ctx, consent.Consent{PersonKey: pA, GranteeKind: consent.GranteeRegion, GranteeID: "yrd", Items: []string{"CT-HEAD"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Until.Sub(c.From) != consent.DefaultPeriod {
		t.Errorf("default period %v", c.Until.Sub(c.From))
	}
	check("region consent covers the item", hz, "1.1", true)
	check("region consent, other item", hz, "1.2", false)
	check("region consent, other region", auth.Principal{Role: auth.RoleClinician, Institution: "bj-hosp"}, "1.1", false)
	check("consent of another person", hz, "1.3", false)

	now = c.Until.Add(-time.Second)
	check("consent in its last second", hz, "1.1", true)
	now = c.Until
	check("consent expired at its end", hz, "1.1", false)
	now = c.Until.Add(time.Second)
	check("consent expired one second ago", hz, "1.1", false)
	now = c.From

	if _, err := s.Revoke(ctx, c.ID, pB); err == nil {
		t.Error("another person revoked the consent")
	}
	if _, err := s.Revoke(ctx, c.ID, pA); err != nil {
		t.Fatal(err)
	}
	check("revoked consent", hz, "1.1", false)

	// Reload from the record store: state survives.
	s2, _ := consent.New(ctx, rec, func() time.Time { return now })
	if got := s2.List(pA); len(got) != 1 || got[0].Revoked == nil {
		t.Fatalf("reloaded consents: %+v", got)
	}

	for name, bad := range map[string]consent.Consent{
		"short person key": {PersonKey: "abc", GranteeKind: consent.GranteeAll},
		"all with id":      {PersonKey: pA, GranteeKind: consent.GranteeAll, GranteeID: "x"},
		"unknown kind":     {PersonKey: pA, GranteeKind: "everyone"},
		"ended":            {PersonKey: pA, GranteeKind: consent.GranteeAll, From: now.Add(-48 * time.Hour), Until: now.Add(-24 * time.Hour)},
		"too long":         {PersonKey: pA, GranteeKind: consent.GranteeAll, Until: now.Add(400 * 24 * time.Hour)},
	} {
		if _, err := s.Grant(ctx, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDecisionVisible: no principal reads no decision; an admin every
// one; an institution its own and those on studies it may see.
func TestDecisionVisible(t *testing.T) {
	ctx := context.Background()
	yes, no := func() bool { return true }, func() bool { return false }
	as := func(p auth.Principal) context.Context { return auth.WithPrincipal(ctx, p) }
	clin := auth.Principal{Role: auth.RoleClinician, Institution: "h1"}
	for _, c := range []struct {
		name    string
		ctx     context.Context
		by      string
		visible func() bool
		want    bool
	}{
		{"no principal", ctx, "h1", yes, false},
		{"admin", as(auth.Principal{Role: auth.RoleAdmin}), "h2", no, true},
		{"own institution's", as(clin), "h1", no, true},
		{"other's on a visible study", as(clin), "h2", yes, true},
		{"other's on a hidden study", as(clin), "h2", no, false},
	} {
		if got := access.DecisionVisible(c.ctx, c.by, c.visible); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
