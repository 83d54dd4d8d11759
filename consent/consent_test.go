package consent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	s, err := New(ctx, rec, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(ctx, Consent{PersonKey: pA, GranteeKind: GranteeInstitution, GranteeID: "hz-hosp"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	for study, want := range map[string]bool{"old": true, "same": true, "late": false} {
		if got := s.Covers(ctx, &index.Study{UID: study}, "hz-hosp", facts); got != want {
			t.Errorf("%s: covered %v, want %v", study, got, want)
		}
	}
	if _, err := s.Grant(ctx, Consent{PersonKey: pA, GranteeKind: GranteeInstitution, GranteeID: "hz-hosp"}); err != nil {
		t.Fatal(err)
	}
	if !s.Covers(ctx, &index.Study{UID: "late"}, "hz-hosp", facts) {
		t.Error("a consent given after the link does not cover the study")
	}
}

// TestGrantorsReadTheGranteesConsentsOnly: Grantors reads the consents of
// the institution, its regions and "all", not every person's: 2,000
// consents for other institutions cost nothing; a revoked consent leaves
// the key; a new Service (the gateway's start, after a reindex) rebuilds
// it from the records.
func TestGrantorsReadTheGranteesConsentsOnly(t *testing.T) {
	ctx := context.Background()
	rec, _ := recordstest.New(t)
	s, err := New(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	person := func(i int) string { return fmt.Sprintf("%064x", i) }
	grant := func(i int, kind, id string) *Consent {
		t.Helper()
		c, err := s.Grant(ctx, Consent{PersonKey: person(i), GranteeKind: kind, GranteeID: id})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := range 2000 {
		grant(i, GranteeInstitution, fmt.Sprintf("other-%d", i%50))
	}
	mine := grant(5000, GranteeInstitution, "H1")
	grant(5001, GranteeRegion, "hunan")
	grant(5002, GranteeAll, "")
	grant(5003, GranteeRegion, "beijing")
	grant(5000, GranteeAll, "") // the same person twice: listed once

	check := func(s *Service, want []string, maxRead int64) {
		t.Helper()
		before := s.examined.Load()
		got := s.Grantors("H1", []string{"hunan"})
		if !slices.Equal(got, want) {
			t.Errorf("Grantors: %q, want %q", got, want)
		}
		if read := s.examined.Load() - before; read > maxRead {
			t.Errorf("Grantors read %d consents, want at most %d", read, maxRead)
		}
	}
	check(s, []string{person(5000), person(5001), person(5002)}, 4)
	if _, err := s.Revoke(ctx, mine.ID, ""); err != nil {
		t.Fatal(err)
	}
	check(s, []string{person(5000), person(5001), person(5002)}, 3) // 5000 still grants all
	reloaded, err := New(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(reloaded, []string{person(5000), person(5001), person(5002)}, 3)
}
