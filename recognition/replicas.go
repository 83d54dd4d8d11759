package recognition

import (
	"context"
	"errors"
	"fmt"
)

// With several gateways on one index each holds the registry snapshot and
// caches eligibility outcomes. A registry or catalogue edit, and an
// outcome that replaces another, bump the recognition version
// (records.Version); the other gateways reload the snapshot and forget
// the outcomes they cached within about a second.

// versionName names recognition's version record.
const versionName = "recognition"

var errEditing = errors.New("an edit is under way")

// bump records an edit, for the other gateways.
func (s *Service) bump(ctx context.Context) error {
	if err := s.version.Bump(ctx); err != nil {
		return fmt.Errorf("record the recognition version: %w", err)
	}
	return nil
}

// refresh reloads the registry and catalogue and empties the caches built
// on them when another gateway changed them.
func (s *Service) refresh(ctx context.Context) {
	s.version.Check(ctx, func(ctx context.Context) error {
		// An edit here holds the lock (and may be the caller): try again
		// at the next check rather than wait, so that the edit's own
		// snapshot is never replaced by one read before it.
		if !s.edit.TryLock() {
			return errEditing
		}
		defer s.edit.Unlock()
		insts, err := listRecords[Institution](ctx, s.rec, kindInstitutions)
		if err != nil {
			return err
		}
		regions, err := listRecords[Region](ctx, s.rec, kindRegions)
		if err != nil {
			return err
		}
		items, err := listRecords[Item](ctx, s.rec, kindCatalogue)
		if err != nil {
			return err
		}
		s.st.Store(newState(insts, regions, items))
		s.eligCache.Clear()
		s.eligCount.Store(0)
		s.blocks.Clear() // keyed on the snapshot too, but an outcome may have changed
		s.blockCount.Store(0)
		return nil
	})
}
