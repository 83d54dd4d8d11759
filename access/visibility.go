package access

import (
	"context"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/index"
)

// Facts are what the visibility rule reads about a study: who holds it,
// whose it is, and what consents match it (recognition.Service).
type Facts interface {
	consent.Facts
}

// Consents says whether a consent in force lets an institution see a
// study (consent.Service).
type Consents interface {
	Covers(ctx context.Context, st *index.Study, institution string, f consent.Facts) bool
}

// Visible is the visibility rule, one for QIDO, WADO, the recognition API
// and share zips: no principal sees nothing; a share session only its
// study; an admin everything; a patient only their own studies; a
// clinician or a peer gateway its own institution's studies and those a
// consent in force covers; anyone else (a PACS) nothing.
func Visible(ctx context.Context, st *index.Study, f Facts, c Consents) bool {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return false
	}
	if p.Scope != "" {
		return p.Scope == st.UID
	}
	switch p.Role {
	case auth.RoleAdmin:
		return true
	case auth.RolePatient:
		return p.PersonKey != "" && f.StudyPerson(ctx, st) == p.PersonKey
	case auth.RoleClinician, auth.RolePeer:
		if p.Institution == "" {
			return false
		}
		if f.StudyInstitution(ctx, st) == p.Institution {
			return true
		}
		return c != nil && c.Covers(ctx, st, p.Institution, f)
	}
	return false
}

// Visibility is the visibility rule bound to its facts: the archive's
// Visibility hook (archive.Visibility) and the recognition API's.
type Visibility struct {
	facts    Facts
	consents Consents
}

// NewVisibility returns the rule over facts and consents.
func NewVisibility(f Facts, c Consents) *Visibility {
	return &Visibility{facts: f, consents: c}
}

// Visible applies the visibility rule (see the function Visible).
func (v *Visibility) Visible(ctx context.Context, st *index.Study) bool {
	return Visible(ctx, st, v.facts, v.consents)
}

// SeesAll reports whether the party in ctx sees every study (an admin
// outside a share session), so that the archive may skip studies without
// reading them (archive.AllVisible).
func (v *Visibility) SeesAll(ctx context.Context) bool {
	p, ok := auth.FromContext(ctx)
	return ok && p.Scope == "" && p.Role == auth.RoleAdmin
}

// grantors are the Consents that can list the persons whose consents may
// cover an institution (consent.Service).
type grantors interface {
	Grantors(institution string, regions []string) []string
}

// personIDs are the Facts that can list a person's PatientIDs
// (recognition.Service).
type personIDs interface {
	PersonPatientIDs(ctx context.Context, person string) ([]string, error)
}

// maxGrantors bounds the persons whose links Candidates reads per search
// (one record each).
const maxGrantors = 256

// Candidates narrows the studies the party in ctx may see, for the query
// planner (archive.Narrower): ok for a clinician or peer, who sees at most
// the studies its institution holds and those of the PatientIDs of the
// persons whose consents may cover it, and for a patient, who sees at
// most the studies of their person's PatientIDs (institution ""). Admins
// and share sessions are not narrowed (ok false), nor is an institution
// more than maxGrantors persons' consents may cover; Visible still
// decides per study.
func (v *Visibility) Candidates(ctx context.Context) (institution string, patientIDs []string, ok bool) {
	p, found := auth.FromContext(ctx)
	if found && p.Scope == "" && p.Role == auth.RolePatient && p.PersonKey != "" {
		// A patient sees the studies linked to their person, whose
		// PatientIDs are their links'.
		ids, ok := v.facts.(personIDs)
		if !ok {
			return "", nil, false
		}
		pids, err := ids.PersonPatientIDs(ctx, p.PersonKey)
		if err != nil {
			return "", nil, false
		}
		return "", pids, true
	}
	if !found || p.Scope != "" || p.Institution == "" || p.Role != auth.RoleClinician && p.Role != auth.RolePeer {
		return "", nil, false
	}
	if v.consents == nil {
		return p.Institution, nil, true
	}
	g, ok1 := v.consents.(grantors)
	ids, ok2 := v.facts.(personIDs)
	if !ok1 || !ok2 {
		return "", nil, false
	}
	persons := g.Grantors(p.Institution, v.facts.Regions(p.Institution))
	if len(persons) > maxGrantors {
		return "", nil, false // reading their links would cost more than it saves
	}
	for _, person := range persons {
		pids, err := ids.PersonPatientIDs(ctx, person)
		if err != nil {
			return "", nil, false // not narrowed: the plan stays complete
		}
		patientIDs = append(patientIDs, pids...)
	}
	return p.Institution, patientIDs, true
}

// DecisionVisible is the rule for recognition decisions, which name
// physicians and carry free text: no principal reads none; an admin every
// one; a principal of an institution those its institution made and, like
// anyone else, those on studies it may see (studyVisible; the holding
// institution reads what others decided about its results).
func DecisionVisible(ctx context.Context, decidedBy string, studyVisible func() bool) bool {
	p, ok := auth.FromContext(ctx)
	switch {
	case !ok:
		return false
	case p.Role == auth.RoleAdmin:
		return true
	case p.Institution != "" && decidedBy == p.Institution:
		return true
	}
	return studyVisible()
}
