package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
)

// ErrForeignInstitution refuses a PACS storing a study that the registry
// attributes to another institution.
var ErrForeignInstitution = errors.New("a PACS stores only for its own institution")

// DICOM tags the PACS identity rule reads.
const (
	tagStudyUID        = "0020000D" // StudyInstanceUID
	tagInstitutionName = "00080080" // InstitutionName
	tagIssuer          = "00100021" // IssuerOfPatientID
)

// Holding is what the PACS identity rule needs to know of a stored
// study.
type Holding struct {
	// Stored is false for a study not in the index yet.
	Stored bool
	// Holder is the institution holding it ("" if none).
	Holder string
	// Checked is true once the study's first check has run (and fixed
	// its holder, if any).
	Checked bool
}

// Registry is what the PACS identity rule reads from the recognition
// registry and its claims (recognition.Service).
type Registry interface {
	// StudyHolding describes a study by UID.
	StudyHolding(ctx context.Context, study string) (Holding, error)
	// InstitutionNamed and InstitutionIssuing are the ids of the
	// registered institutions with that InstitutionName or
	// IssuerOfPatientID ("" if none).
	InstitutionNamed(name string) string
	InstitutionIssuing(issuer string) string
	// Claim records that institution stores the first instances of a
	// study whose first check has not run; false when another
	// institution holds a live claim. Claimant returns the live claim's
	// institution ("" if none).
	Claim(study, institution string) bool
	Claimant(study string) string
}

// Admission is the PACS identity rule at ingest (archive.Admission).
type Admission struct {
	reg Registry
}

// NewAdmission returns the rule over a registry.
func NewAdmission(r Registry) *Admission { return &Admission{reg: r} }

// Admit is the PACS identity rule: a PACS may store only studies of its
// own institution. An instance of a stored study that another institution
// holds (or that no institution holds) is refused, whatever the instance
// says; so is one whose InstitutionName or IssuerOfPatientID the registry
// maps to another institution. A new study that maps to no registered
// institution is admitted and attributed to the PACS's institution. Other
// roles (an administrator) are not checked. The other holder is never
// named, so a PACS learns nothing about it.
func (a *Admission) Admit(ctx context.Context, ds dcm.Dataset) error {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Role != auth.RolePACS || p.Institution == "" {
		return nil
	}
	uid := strings.TrimSpace(ds.String(tagStudyUID))
	held := fmt.Errorf("%w: study %s is held by another institution; this PACS stores for %s", ErrForeignInstitution, uid, p.Institution)
	h, err := a.reg.StudyHolding(ctx, uid)
	if err != nil {
		return fmt.Errorf("admit an instance of study %s: %w", uid, err)
	}
	if h.Stored {
		switch {
		case h.Holder == p.Institution:
			return nil
		case h.Holder == "" && !h.Checked:
			// Stored moments ago, its first check still to come: the
			// PACS that stored its first instance claimed it.
			if c := a.reg.Claimant(uid); c != "" && c != p.Institution {
				return held
			}
		case h.Holder == "":
			return fmt.Errorf("%w: study %s is already stored and no institution holds it; an administrator can assign it a holding institution", ErrForeignInstitution, uid)
		default:
			return held
		}
	}
	if name := strings.TrimSpace(ds.String(tagInstitutionName)); name != "" {
		if in := a.reg.InstitutionNamed(name); in != "" && in != p.Institution {
			return fmt.Errorf("%w: InstitutionName %q belongs to %s, and this PACS stores for %s", ErrForeignInstitution, name, in, p.Institution)
		}
	}
	if issuer := strings.TrimSpace(ds.String(tagIssuer)); issuer != "" {
		if in := a.reg.InstitutionIssuing(issuer); in != "" && in != p.Institution {
			return fmt.Errorf("%w: IssuerOfPatientID %q belongs to %s, and this PACS stores for %s", ErrForeignInstitution, issuer, in, p.Institution)
		}
	}
	if !a.reg.Claim(uid, p.Institution) {
		return held
	}
	return nil
}
