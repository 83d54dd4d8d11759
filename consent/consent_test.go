package consent

import (
	"context"
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
