package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/storage"
)

// ErrNotDurable: the index lists an instance whose object is missing or
// shorter than recorded in object storage (fsck reports it; nothing may
// promise it is kept).
var ErrNotDurable = errors.New("instance not durable in object storage")

// Durable finds an instance by its SOP Instance UID, as the party in ctx
// may see it, and checks that its object is in object storage at its
// recorded size: what Storage Commitment promises before a PACS deletes
// its copy: the row is at or below the checkpoint (synced with its
// object; a later row is committed first) and the object is there. A
// missing or hidden instance is ErrNotFound (one answer for both); an
// object missing under an index row is ErrNotDurable.
func (s *Service) Durable(ctx context.Context, sop string) (*Instance, error) {
	in, err := s.InstanceBySOP(ctx, sop)
	if err != nil {
		return nil, err
	}
	// A row past the checkpoint may name an object not yet synced (a
	// STOW-RS request still committing): commit now rather than promise.
	cp, err := s.db.Checkpoint()
	if err != nil {
		return nil, mapIndexErr(err)
	}
	if in.Seq > cp {
		if err := s.Sync(ctx); err != nil {
			return nil, fmt.Errorf("check %s: %w", sop, err)
		}
	}
	oi, err := s.store.Stat(ctx, in.Key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("check %s: %w: object missing", sop, ErrNotDurable)
	case err != nil:
		return nil, mapStoreErr(fmt.Errorf("check %s: %w", sop, err))
	case oi.Size != in.Size:
		return nil, fmt.Errorf("check %s: %w: object holds %d bytes, %d recorded", sop, ErrNotDurable, oi.Size, in.Size)
	}
	return in, nil
}
