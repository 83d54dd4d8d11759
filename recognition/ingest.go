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
			e.Problems = append(e.Problems, problem(ProblemNotCertified, text{
				fmt.Sprintf("%s在检查日期没有有效的影像质控认证", holding.Name),
				fmt.Sprintf("%s has no imaging quality-control certification valid on the study date", holding.Name)}))
		}
	case e.AttributedBy == "pacs":
		e.Problems = append(e.Problems, problem(ProblemUnknownInstitution, text{
			fmt.Sprintf("推送的 PACS 所属机构 %q 不在登记名录中", e.Holding),
			fmt.Sprintf("the pushing PACS acts for institution %q, which is not in the registry", e.Holding)}))
	case e.Holding != "":
		e.Problems = append(e.Problems, problem(ProblemUnknownInstitution, text{
			fmt.Sprintf("持有机构 %q 不在登记名录中", e.Holding),
			fmt.Sprintf("the holding institution %q is not in the registry", e.Holding)}))
	default:
		names := strings.Join(f.InstitutionNames, " / ")
		e.Problems = append(e.Problems, problem(ProblemUnknownInstitution, text{
			fmt.Sprintf("没有登记机构的名称为 %q 或患者 ID 签发者为 %q", names, f.Issuer),
			fmt.Sprintf("no registered institution has the name %q or the issuer %q", names, f.Issuer)}))
	}
	if e.Issuer == "" {
		e.Problems = append(e.Problems, problem(ProblemMissingAttribute, text{
			"缺少 IssuerOfPatientID (0010,0021)，且机构未声明患者 ID 签发者",
			"IssuerOfPatientID (0010,0021) is missing and the institution declares no issuer"}))
	}
	if it := bestItem(st.sortedItems, f); it != nil {
		e.Item = it.Code
	} else {
		e.Problems = append(e.Problems, problem(ProblemNoItem, noItem))
	}
	e.Eligible = len(e.Problems) == 0
	e.Explanation = explain(e, LangEN)
	// The index's holding key (the query planner's) never names another
	// holder than the record: it says "" (unknown, which every
	// institution's queries read) while the record changes.
	if row, err := s.db.Study(study); err == nil && row.Holding != e.Holding && row.Holding != "" {
		if err := s.db.SetHolding(study, ""); err != nil {
			return nil, fmt.Errorf("store eligibility %s: %w", study, err)
		}
	}
	if err := s.rec.Put(ctx, kindEligibility, study, e); err != nil {
		return nil, fmt.Errorf("store eligibility %s: %w", study, err)
	}
	if err := s.db.SetHolding(study, e.Holding); err != nil {
		s.log.Warn("index holding institution", "study", study, "err", err) // "" stays: slower plans, same answers
		_ = s.db.SetHoldingsMark("")                                        // the next start's pass sets it
	}
	s.cacheEligibility(study, e)
	s.claims.Delete(study) // the holder is recorded now
	// Other gateways may cache the outcome this one replaced.
	if prev != nil {
		if err := s.bump(ctx); err != nil {
			return nil, fmt.Errorf("store eligibility %s: %w", study, err)
		}
	}
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

// noItem is the problem of a study no catalogue item matches.
var noItem = text{"没有与该检查（检查类型、部位、描述）相符的互认项目", "no catalogue item matches the study (modality, body part, description)"}

// explain sums an eligibility outcome up in a sentence in l.
func explain(e *Eligibility, l Lang) string {
	if e.Eligible {
		if l == LangEN {
			return fmt.Sprintf("Eligible: attributed to %s (%s), catalogue item %s, window counted from %s.", e.Holding, e.AttributedBy, e.Item, e.Anchor)
		}
		return fmt.Sprintf("符合互认条件：归属 %s（%s），互认项目 %s，有效期自 %s 起算。", e.Holding, e.AttributedBy, e.Item, e.Anchor)
	}
	texts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		texts[i] = p.in(l)
	}
	if l == LangEN {
		return "Not eligible: " + strings.Join(texts, "; ") + "."
	}
	return "不符合互认条件：" + strings.Join(texts, "；") + "。"
}
