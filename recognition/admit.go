package recognition

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	if row, err := s.db.Study(uid); err == nil {
		// The holder is the one fixed at the study's first check; the
		// other holder is not named, so a PACS learns nothing about it.
		switch h := s.holdingID(ctx, row); {
		case h == p.Institution:
			return nil
		case h == "" && s.eligibility(ctx, uid) == nil:
			// Stored in this very request or just before: its first
			// check has not run yet, and nothing names another holder.
		case h == "":
			return fmt.Errorf("%w: study %s is already stored and no institution holds it; an administrator can assign it a holding institution", ErrForeignInstitution, uid)
		default:
			return fmt.Errorf("%w: study %s is held by another institution; this PACS stores for %s", ErrForeignInstitution, uid, p.Institution)
		}
	} else if !errors.Is(err, index.ErrNotFound) {
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
	return nil
}
