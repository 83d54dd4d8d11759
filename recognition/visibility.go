package recognition

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/index"
)

// visibleStudy returns the index row of a study the party in ctx may see
// (access.Visible, when Options.Consents is set). A study it may not see
// is "not found" with the very text of a study that does not exist, so
// that its existence does not leak.
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

// decisionVisible reports whether the party in ctx may read a decision
// (access.DecisionVisible; without Options.Consents every one).
func (s *Service) decisionVisible(ctx context.Context, d *Decision) bool {
	if s.visibility == nil {
		return true
	}
	return access.DecisionVisible(ctx, d.Institution, func() bool {
		_, err := s.visibleStudy(ctx, d.Study)
		return err == nil
	})
}
