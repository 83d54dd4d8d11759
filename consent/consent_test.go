package consent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
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
	s, err := New(ctx, rec, facts, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	st := func(uid string) *index.Study { return &index.Study{UID: uid} }
	as := func(p auth.Principal) context.Context { return auth.WithPrincipal(ctx, p) }
	hz := auth.Principal{Role: auth.RoleClinician, Institution: "hz-hosp"}
	check := func(name string, p auth.Principal, study string, want bool) {
		t.Helper()
		if got := s.Visible(as(p), st(study)); got != want {
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

	// Region consent limited to CT-HEAD.
	c, err := s.Grant(ctx, Consent{PersonKey: pA, GranteeKind: GranteeRegion, GranteeID: "yrd", Items: []string{"CT-HEAD"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Until.Sub(c.From) != DefaultPeriod {
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
	s2, _ := New(ctx, rec, facts, func() time.Time { return now })
	if got := s2.List(pA); len(got) != 1 || got[0].Revoked == nil {
		t.Fatalf("reloaded consents: %+v", got)
	}

	for name, bad := range map[string]Consent{
		"short person key": {PersonKey: "abc", GranteeKind: GranteeAll},
		"all with id":      {PersonKey: pA, GranteeKind: GranteeAll, GranteeID: "x"},
		"unknown kind":     {PersonKey: pA, GranteeKind: "everyone"},
		"ended":            {PersonKey: pA, GranteeKind: GranteeAll, From: now.Add(-48 * time.Hour), Until: now.Add(-24 * time.Hour)},
		"too long":         {PersonKey: pA, GranteeKind: GranteeAll, Until: now.Add(400 * 24 * time.Hour)},
	} {
		if _, err := s.Grant(ctx, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConsentCoversWhatWasLinkedWhenGiven: a study whose patient was
// linked to the person after the consent was given is not covered by it
// (a link cannot widen a consent); a consent given after the link covers
// it; a link at the very time of the consent counts as before it.
func TestConsentCoversWhatWasLinkedWhenGiven(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	pA := strings.Repeat("a", 64)
	facts := tableFacts{
		inst:   map[string]string{"old": "sh-hosp", "same": "sh-hosp", "late": "bj-hosp"},
		person: map[string]string{"old": pA, "same": pA, "late": pA},
		linked: map[string]time.Time{"old": now.Add(-time.Hour), "same": now, "late": now.Add(time.Minute)},
	}
	rec, _ := recordstest.New(t)
	s, err := New(ctx, rec, facts, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, Consent{PersonKey: pA, GranteeKind: GranteeInstitution, GranteeID: "hz-hosp"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	for study, want := range map[string]bool{"old": true, "same": true, "late": false} {
		if got := s.Covers(ctx, &index.Study{UID: study}, "hz-hosp"); got != want {
			t.Errorf("%s: covered %v, want %v", study, got, want)
		}
	}
	if _, err := s.Grant(ctx, Consent{PersonKey: pA, GranteeKind: GranteeInstitution, GranteeID: "hz-hosp"}); err != nil {
		t.Fatal(err)
	}
	if !s.Covers(ctx, &index.Study{UID: "late"}, "hz-hosp") {
		t.Error("a consent given after the link does not cover the study")
	}
}
