package recognition

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/index"
)

// ErrForeignInstitution refuses a PACS storing a study that the registry
// attributes to another institution (access's PACS identity rule).
var ErrForeignInstitution = access.ErrForeignInstitution

// StudyHolding describes a study for the PACS identity rule
// (access.Registry): whether it is stored, the institution holding it and
// whether its first check has run.
func (s *Service) StudyHolding(ctx context.Context, study string) (access.Holding, error) {
	row, err := s.db.Study(study)
	if errors.Is(err, index.ErrNotFound) {
		return access.Holding{}, nil
	}
	if err != nil {
		return access.Holding{}, fmt.Errorf("read study %s: %w", study, err)
	}
	e, err := s.storedEligibility(ctx, study)
	if err != nil {
		return access.Holding{}, err
	}
	return access.Holding{Stored: true, Holder: s.holdingID(ctx, row), Checked: e != nil}, nil
}

// InstitutionNamed is the id of the registered institution with that
// InstitutionName ("" if none).
func (s *Service) InstitutionNamed(name string) string {
	if in := s.state().byName[nameKey(name)]; in != nil {
		return in.ID
	}
	return ""
}

// InstitutionIssuing is the id of the registered institution issuing
// patient IDs under issuer ("" if none).
func (s *Service) InstitutionIssuing(issuer string) string {
	if in := s.state().byIssuer[issuer]; in != nil {
		return in.ID
	}
	return ""
}

// claimTTL is how long a claim on a study outlives an instance that never
// got stored (a claim ends at the study's first check).
const claimTTL = time.Hour

// studyClaim is the PACS institution that admitted the first instance of a
// study whose first check has not run yet.
type studyClaim struct {
	institution string
	at          time.Time
}

// Claim records that institution stores the first instances of a study,
// so that another institution's PACS cannot slip an instance in before the
// study's first check fixes its holder. It reports false when another
// institution holds a live claim.
func (s *Service) Claim(study, institution string) bool {
	c := studyClaim{institution: institution, at: s.opt.Now()}
	v, loaded := s.claims.LoadOrStore(study, c)
	if !loaded {
		if s.claimCount.Add(1) > maxCachedBlocks {
			// Bounded: claims whose instance never got stored go.
			s.claims.Clear()
			s.claimCount.Store(0)
			s.claims.Store(study, c)
		}
		return true
	}
	old := v.(studyClaim)
	if old.institution == institution {
		return true
	}
	if c.at.Sub(old.at) < claimTTL {
		return false
	}
	s.claims.Store(study, c)
	return true
}

// Claimant returns the institution holding a live claim on a study ("" if
// none).
func (s *Service) Claimant(study string) string {
	if v, ok := s.claims.Load(study); ok {
		if c := v.(studyClaim); s.opt.Now().Sub(c.at) < claimTTL {
			return c.institution
		}
	}
	return ""
}
