package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

// FsckOptions choose what Fsck checks and repairs.
type FsckOptions struct {
	// Deep re-reads every object and checks it against the checksum in its
	// row (rows rebuilt by reindex have none and are only size-checked).
	Deep bool
	// Repair removes rows whose object is missing and indexes objects
	// that have no row. Objects whose content no longer matches are only
	// reported: the gateway cannot know which copy is right.
	Repair bool
	// Progress, when set, is called after each step with done and total.
	Progress func(done, total int)
}

// FsckReport counts what Fsck found.
type FsckReport struct {
	Rows, Objects int
	// Dangling are rows whose object is missing; Orphans objects without
	// a row; Corrupt objects whose size or checksum differs from their row's.
	Dangling, Orphans, Corrupt []string
	Repaired                   int
}

// Clean reports whether nothing is wrong (after repairs).
func (r FsckReport) Clean() bool {
	return len(r.Corrupt) == 0 && len(r.Dangling)+len(r.Orphans) == r.Repaired
}

// Fsck compares the index with object storage.
func (s *Service) Fsck(ctx context.Context, opt FsckOptions) (FsckReport, error) {
	var rep FsckReport
	var rows []*index.Instance
	if err := s.db.AllInstances(func(in *index.Instance) (bool, error) {
		rows = append(rows, in)
		return true, nil
	}); err != nil {
		return rep, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	objects := map[string]storage.ObjectInfo{}
	if err := s.store.List(ctx, storage.StudiesPrefix, func(oi storage.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, ".dcm") {
			objects[oi.Key] = oi
		}
		return nil
	}); err != nil {
		return rep, mapStoreErr(fmt.Errorf("list objects: %w", err))
	}
	rep.Rows, rep.Objects = len(rows), len(objects)
	total, done := len(rows)+len(objects), 0
	step := func() {
		done++
		if opt.Progress != nil {
			opt.Progress(done, total)
		}
	}
	seen := map[string]bool{}
	for _, in := range rows {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		seen[in.Key] = true
		oi, ok := objects[in.Key]
		switch {
		case !ok:
			rep.Dangling = append(rep.Dangling, in.Key)
			if opt.Repair {
				if err := s.db.DeleteInstance(in.Study, in.Series, in.SOP); err != nil {
					return rep, fmt.Errorf("repair %s: %w", in.Key, err)
				}
				rep.Repaired++
			}
		case oi.Size != in.Size:
			rep.Corrupt = append(rep.Corrupt, in.Key)
		case opt.Deep && (in.CRC32C != "" || in.SHA256 != ""):
			ok, err := s.intact(ctx, in)
			if err != nil {
				return rep, err
			}
			if !ok {
				rep.Corrupt = append(rep.Corrupt, in.Key)
			}
		}
		step()
	}
	for key, oi := range objects {
		if seen[key] {
			step()
			continue
		}
		rep.Orphans = append(rep.Orphans, key)
		if opt.Repair {
			err := s.reindexOne(ctx, oi)
			if err != nil && !errors.Is(err, index.ErrExists) {
				return rep, fmt.Errorf("repair %s: %w", key, err)
			}
			rep.Repaired++
		}
		step()
	}
	if opt.Repair && rep.Repaired > 0 {
		if err := s.Commit(ctx, nil); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// intact re-reads a stored object and reports whether it still matches the
// checksum in its row: CRC-32C, or SHA-256 for rows written before it.
func (s *Service) intact(ctx context.Context, in *index.Instance) (bool, error) {
	rc, err := s.store.Get(ctx, in.Key, 0, -1)
	if err != nil {
		return false, mapStoreErr(fmt.Errorf("check %s: %w", in.Key, err))
	}
	defer rc.Close()
	var h hash.Hash = crc32.New(castagnoli)
	want := in.CRC32C
	if want == "" {
		h, want = sha256.New(), in.SHA256
	}
	if _, err := io.Copy(h, rc); err != nil {
		return false, mapStoreErr(fmt.Errorf("check %s: %w", in.Key, err))
	}
	return hex.EncodeToString(h.Sum(nil)) == want, nil
}
