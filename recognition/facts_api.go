package recognition

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/index"
)

// What other packages (consent, the audit trail) ask recognition about
// studies and institutions. The methods satisfy consent.Facts.

// StudyInstitution returns the id of the institution holding a study ("" if
// unknown): the one fixed at its first check (see holding.go).
func (s *Service) StudyInstitution(ctx context.Context, st *index.Study) string {
	return s.holdingID(ctx, st)
}

// StudyPerson returns the person key linked to a study's patient ("" if
// unlinked).
func (s *Service) StudyPerson(ctx context.Context, st *index.Study) string {
	key, _ := s.StudyLink(ctx, st)
	return key
}

// StudyLink returns the person key linked to a study's patient ("" if
// unlinked) and when that link was made: a consent covers the study only
// if it was given at or after that time.
func (s *Service) StudyLink(ctx context.Context, st *index.Study) (string, time.Time) {
	f := factsOf(st, nil)
	elig := s.eligibility(ctx, st.UID)
	ref := PatientRef{Issuer: s.state().issuerOf(f, elig), PatientID: f.PatientID}
	if ref.Issuer == "" || ref.PatientID == "" {
		return "", time.Time{}
	}
	l, err := s.linkOf(ctx, ref)
	if err != nil {
		s.log.Warn("read patient link", "study", st.UID, "err", err)
	}
	return l.PersonKey, l.Linked
}

// PersonPatientIDs returns the PatientIDs linked to a person (the query
// planner reads the studies of consenting persons by them).
func (s *Service) PersonPatientIDs(ctx context.Context, person string) ([]string, error) {
	refs, err := s.refsOf(ctx, person)
	if err != nil {
		return nil, fmt.Errorf("read links of a person: %w", err)
	}
	var out []string
	for _, r := range refs {
		if !slices.Contains(out, r.PatientID) {
			out = append(out, r.PatientID)
		}
	}
	return out, nil
}

// StudyItems returns the codes of the catalogue items a study matches,
// best first.
func (s *Service) StudyItems(_ context.Context, st *index.Study) []string {
	f := factsOf(st, s.db.SeriesOf(st.UID))
	type scored struct {
		code  string
		score int
	}
	var all []scored
	for _, it := range s.state().sortedItems {
		if sc := it.score(f); sc > 0 {
			all = append(all, scored{it.Code, sc})
		}
	}
	slices.SortStableFunc(all, func(a, b scored) int { return b.score - a.score })
	out := make([]string, len(all))
	for i, a := range all {
		out[i] = a.code
	}
	return out
}

// Regions returns the region ids an institution belongs to (nil if it is
// not registered).
func (s *Service) Regions(institution string) []string {
	if in := s.state().institutions[institution]; in != nil {
		return in.Memberships()
	}
	return nil
}

// PersonKeyOf returns the person key of a stored study's patient, for the
// audit trail ("" if unknown or unlinked).
func (s *Service) PersonKeyOf(study string) string {
	st, err := s.db.Study(strings.TrimSpace(study))
	if err != nil {
		return ""
	}
	return s.StudyPerson(context.Background(), st)
}
