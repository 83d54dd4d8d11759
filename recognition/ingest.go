package recognition

import (
	"context"
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/auth"
)

// StudyStored runs the eligibility check of a study that received
// instances and stores its outcome (archive.Observer). Failures are logged:
// the instances are stored whatever recognition thinks of them.
func (s *Service) StudyStored(ctx context.Context, study string) {
	// The outcome is written even if the client goes away now.
	ctx = context.WithoutCancel(ctx)
	if _, err := s.Check(ctx, study); err != nil {
		s.log.Error("eligibility check", "study", study, "err", err)
	}
}

// Check runs the eligibility check of a stored study: required
// attributes, complete series, a registered institution certified on the
// study date and a matching catalogue item. The outcome is stored as
// eligibility/{study} and returned. The holding institution is the one
// recorded by the study's first check; at the first check it is the
// pushing PACS's when a PACS principal is in ctx, else the registry's
// mapping of InstitutionName or IssuerOfPatientID.
func (s *Service) Check(ctx context.Context, study string) (*Eligibility, error) {
	unlock := s.checkLock(study)
	defer unlock()
	return s.check(ctx, study, "")
}

// check is Check under the study's check lock; move, when not empty, is
// the holding institution an administrator gives the study.
func (s *Service) check(ctx context.Context, study, move string) (*Eligibility, error) {
	f, err := s.facts(study)
	if err != nil {
		return nil, err
	}
	st := s.state()
	now := s.opt.Now()
	e := &Eligibility{
		Study: study, StudyDate: f.StudyDateRaw, Received: f.Received, CheckedAt: now.UTC(), Issuer: f.Issuer,
	}
	if a, ok := f.anchor(); ok {
		e.Anchor = isoDate(a)
	}
	e.Problems = structuralProblems(f, day(now))
	series, nSeries, nInst, err := seriesProblems(s.db, study)
	if err != nil {
		return nil, err
	}
	e.Problems = append(e.Problems, series...)
	e.Series, e.Instances = nSeries, nInst

	prev, err := s.storedEligibility(ctx, study)
	if err != nil {
		return nil, err // never re-derive a holder that could not be read
	}
	switch {
	case move != "":
		e.Holding, e.AttributedBy = move, AttributedByAdmin
	case prev != nil && prev.Holding != "":
		// Fixed at the first check: later instances never re-attribute.
		e.Holding, e.AttributedBy = prev.Holding, prev.AttributedBy
	default:
		e.Holding, e.AttributedBy = s.attributeIngest(ctx, st, f)
	}
	holding := st.institutions[e.Holding]
	switch {
	case holding != nil:
		if e.Issuer == "" && len(holding.Issuers) > 0 {
			e.Issuer = holding.Issuers[0]
		}
		if !holding.CertifiedOn(f.StudyDate) {
			e.Problems = append(e.Problems, Problem{ProblemNotCertified,
				fmt.Sprintf("%s has no imaging quality-control certification valid on the study date", holding.Name)})
		}
	case e.AttributedBy == "pacs":
		e.Problems = append(e.Problems, Problem{ProblemUnknownInstitution,
			fmt.Sprintf("the pushing PACS acts for institution %q, which is not in the registry", e.Holding)})
	case e.Holding != "":
		e.Problems = append(e.Problems, Problem{ProblemUnknownInstitution,
			fmt.Sprintf("the holding institution %q is not in the registry", e.Holding)})
	default:
		e.Problems = append(e.Problems, Problem{ProblemUnknownInstitution,
			fmt.Sprintf("no registered institution has the name %q or the issuer %q", strings.Join(f.InstitutionNames, " / "), f.Issuer)})
	}
	if e.Issuer == "" {
		e.Problems = append(e.Problems, Problem{ProblemMissingAttribute,
			"IssuerOfPatientID (0010,0021) is missing and the institution declares no issuer"})
	}
	if it := bestItem(st.sortedItems, f); it != nil {
		e.Item = it.Code
	} else {
		e.Problems = append(e.Problems, Problem{ProblemNoItem, "no catalogue item matches the study (modality, body part, description)"})
	}
	e.Eligible = len(e.Problems) == 0
	e.Explanation = explain(e)
	if err := s.rec.Put(ctx, kindEligibility, study, e); err != nil {
		return nil, fmt.Errorf("store eligibility %s: %w", study, err)
	}
	s.cacheEligibility(study, e)
	s.claims.Delete(study) // the holder is recorded now
	return e, nil
}

// attributeIngest finds the holding institution at a study's first check:
// the PACS principal's institution (registered or not) when
// authentication ran, else the registry mapping; how says which ("" and
// "" when nothing matched).
func (s *Service) attributeIngest(ctx context.Context, st *state, f *Facts) (id, how string) {
	if p, ok := auth.FromContext(ctx); ok && p.Role == auth.RolePACS && p.Institution != "" {
		return p.Institution, "pacs"
	}
	if in, how := st.attribute(f); in != nil {
		return in.ID, how
	}
	return "", ""
}

// explain sums an eligibility outcome up in a sentence.
func explain(e *Eligibility) string {
	if e.Eligible {
		return fmt.Sprintf("Eligible: attributed to %s (%s), catalogue item %s, window counted from %s.", e.Holding, e.AttributedBy, e.Item, e.Anchor)
	}
	texts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		texts[i] = p.Text
	}
	return "Not eligible: " + strings.Join(texts, "; ") + "."
}
