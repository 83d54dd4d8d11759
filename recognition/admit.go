package recognition

import (
	"context"
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
)

// ErrForeignInstitution refuses a PACS storing a study that the registry
// attributes to another institution.
var ErrForeignInstitution = fmt.Errorf("a PACS stores only for its own institution")

// Admit is the archive's admission rule (archive.Admission): a PACS may
// store only studies of its own institution. A study whose InstitutionName
// or IssuerOfPatientID the registry maps to another institution is
// refused; one that maps to no registered institution is admitted and
// attributed to the PACS's institution.
func (s *Service) Admit(ctx context.Context, ds dcm.Dataset) error {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Role != auth.RolePACS || p.Institution == "" {
		return nil
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
