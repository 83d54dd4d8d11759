package recognition

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/index"
)

// Visibility decides whether the party in ctx may see a study: the
// archive's rule (archive.Visibility, consent.Service), so that the
// recognition API hides exactly what DICOMweb hides.
type Visibility interface {
	Visible(ctx context.Context, st *index.Study) bool
}

// SetVisibility installs the visibility rule; until then every study is
// visible, as in the archive. Call before serving (the rule itself needs
// this service, so it cannot be an option of New).
func (s *Service) SetVisibility(v Visibility) { s.visibility = v }

// visibleStudy returns the index row of a study the party in ctx may see.
// A study it may not see is "not found" with the very text of a study
// that does not exist, so that its existence does not leak.
func (s *Service) visibleStudy(ctx context.Context, study string) (*index.Study, error) {
	st, err := s.db.Study(study)
	if errors.Is(err, index.ErrNotFound) || (err == nil && s.visibility != nil && !s.visibility.Visible(ctx, st)) {
		return nil, notFoundf("study %s", study)
	}
	if err != nil {
		return nil, fmt.Errorf("read study %s: %w", study, err)
	}
	return st, nil
}

// decisionVisible reports whether the party in ctx may read a decision:
// an administrator (or anyone when authentication is off) every one, a
// principal of an institution those its institution made and, like anyone
// else, those on studies it may see (the holding institution reads what
// others decided about its results).
func (s *Service) decisionVisible(ctx context.Context, d *Decision) bool {
	p, ok := auth.FromContext(ctx)
	switch {
	case !ok || p.Role == auth.RoleAdmin:
		return true
	case p.Institution != "" && d.Institution == p.Institution:
		return true
	}
	_, err := s.visibleStudy(ctx, d.Study)
	return err == nil
}
