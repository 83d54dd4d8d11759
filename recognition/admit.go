package recognition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// ErrForeignInstitution refuses a PACS storing a study that the registry
// attributes to another institution.
var ErrForeignInstitution = fmt.Errorf("a PACS stores only for its own institution")

// tagStudyUID is StudyInstanceUID (0020,000D).
const tagStudyUID = "0020000D"

// Admit is the archive's admission rule (archive.Admission): a PACS may
// store only studies of its own institution. An instance of a stored study
// that another institution holds (or that no institution holds) is
// refused, whatever the instance says; so is one whose InstitutionName or
// IssuerOfPatientID the registry maps to another institution. A new study
// that maps to no registered institution is admitted and attributed to
// the PACS's institution. Other roles (an administrator) are not checked.
func (s *Service) Admit(ctx context.Context, ds dcm.Dataset) error {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Role != auth.RolePACS || p.Institution == "" {
		return nil
	}
	uid := strings.TrimSpace(ds.String(tagStudyUID))
	held := fmt.Errorf("%w: study %s is held by another institution; this PACS stores for %s", ErrForeignInstitution, uid, p.Institution)
	row, err := s.db.Study(uid)
	switch {
	case err == nil:
		// The holder is the one fixed at the study's first check; the
		// other holder is not named, so a PACS learns nothing about it.
		e, err := s.storedEligibility(ctx, uid)
		if err != nil {
			return fmt.Errorf("admit an instance of study %s: %w", uid, err)
		}
		switch h := s.holdingID(ctx, row); {
		case h == p.Institution:
			return nil
		case h == "" && e == nil:
			// Stored moments ago, its first check still to come: the
			// PACS that stored its first instance claimed it.
			if c := s.claimant(uid); c != "" && c != p.Institution {
				return held
			}
		case h == "":
			return fmt.Errorf("%w: study %s is already stored and no institution holds it; an administrator can assign it a holding institution", ErrForeignInstitution, uid)
		default:
			return held
		}
	case !errors.Is(err, index.ErrNotFound):
		return fmt.Errorf("admit an instance of study %s: %w", uid, err)
	}
	st := s.state()
	if name := strings.TrimSpace(ds.String(tagInstitutionName)); name != "" {
		if in := st.byName[nameKey(name)]; in != nil && in.ID != p.Institution {
			return fmt.Errorf("%w: InstitutionName %q belongs to %s, and this PACS stores for %s", ErrForeignInstitution, name, in.ID, p.Institution)
		}
	}
	if issuer := strings.TrimSpace(ds.String(tagIssuer)); issuer != "" {
		if in := st.byIssuer[issuer]; in != nil && in.ID != p.Institution {
			return fmt.Errorf("%w: IssuerOfPatientID %q belongs to %s, and this PACS stores for %s", ErrForeignInstitution, issuer, in.ID, p.Institution)
		}
	}
	if !s.claim(uid, p.Institution) {
		return held
	}
	return nil
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

// claim records that institution stores the first instances of a study,
// so that another institution's PACS cannot slip an instance in before the
// study's first check fixes its holder. It reports false when another
// institution holds a live claim.
func (s *Service) claim(study, institution string) bool {
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

// claimant returns the institution holding a live claim on a study ("" if
// none).
func (s *Service) claimant(study string) string {
	if v, ok := s.claims.Load(study); ok {
		if c := v.(studyClaim); s.opt.Now().Sub(c.at) < claimTTL {
			return c.institution
		}
	}
	return ""
}
