package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

// ReindexStats counts what Reindex did.
type ReindexStats struct {
	Objects, Indexed, Skipped, Failed int
	// BytesRead is what was read from storage: headers, not whole objects.
	BytesRead int64
}

// Reindex rebuilds the index rows of every instance in object storage. It
// reads headers only (range reads up to the pixel data), so it costs a few
// kilobytes per instance whatever the image size. progress, when not nil,
// is called after each object with the number done and the total.
func (s *Service) Reindex(ctx context.Context, progress func(done, total int)) (ReindexStats, error) {
	var keys []storage.ObjectInfo
	if err := s.store.List(ctx, storage.StudiesPrefix, func(oi storage.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, ".dcm") {
			keys = append(keys, oi)
		}
		return nil
	}); err != nil {
		return ReindexStats{}, mapStoreErr(fmt.Errorf("list objects: %w", err))
	}
	st := ReindexStats{Objects: len(keys)}
	for i, oi := range keys {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n, err := s.reindexOne(ctx, oi)
		st.BytesRead += n
		switch {
		case err == nil:
			st.Indexed++
		case errors.Is(err, index.ErrExists):
			st.Skipped++
		case errors.Is(err, ErrUnavailable):
			return st, err
		default:
			st.Failed++
			s.log.Warn("reindex: object skipped", "key", oi.Key, "err", err)
		}
		if progress != nil {
			progress(i+1, len(keys))
		}
	}
	if st.Indexed > 0 {
		// New rows name no holder: the next start's holding pass
		// (recognition.IndexHoldings) looks for them in the records.
		if err := s.db.SetHoldingsMark(""); err != nil {
			return st, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if err := s.Commit(ctx, nil); err != nil {
		return st, err
	}
	return st, nil
}

func (s *Service) reindexOne(ctx context.Context, oi storage.ObjectInfo) (int64, error) {
	ra := &storeReaderAt{ctx: ctx, store: s.store, key: oi.Key, size: oi.Size}
	// No party stores here: the gateway's default character set applies.
	h, err := dcm.ReadHeader(ra, oi.Size, s.limits(ctx))
	if err != nil {
		return ra.read, fmt.Errorf("read header of %s: %w", oi.Key, err)
	}
	if want := storage.InstanceKey(h.StudyUID, h.SeriesUID, h.SOPUID); want != oi.Key {
		return ra.read, fmt.Errorf("object %s holds instance %s, whose key would be %s", oi.Key, h.SOPUID, want)
	}
	// The checksum is left empty, so reindex reads headers only: a
	// re-store compares bytes anyway, and fsck --deep skips such rows.
	s.noteIngest(h)
	row, meta, err := s.indexRow(h, oi.Size, "")
	if err != nil {
		return ra.read, err
	}
	// An object compressed at ingest says what was received (compress.go).
	row.Received = receivedOf(h)
	err = s.db.PutInstance(index.NewInstance{
		Instance: row, Meta: meta,
		SeriesAttrs: pick(h.Dataset, seriesTags), StudyAttrs: pick(h.Dataset, studyTags),
		Modality: h.Dataset.String(tagModality),
		// The object's time is the best record of arrival left.
		Received: oi.ModTime,
	})
	return ra.read, err
}

// storeReaderAt reads an object by ranges, in blocks, for the header parser.
type storeReaderAt struct {
	ctx   context.Context
	store storage.Store
	key   string
	size  int64
	read  int64

	block    []byte
	blockOff int64
}

const readBlock = 64 << 10

func (r *storeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < r.size {
		if r.block == nil || off < r.blockOff || off >= r.blockOff+int64(len(r.block)) {
			start := off - off%readBlock
			length := min(int64(readBlock), r.size-start)
			if want := int64(len(p) - n); want > length {
				length = min(want+(off-start), r.size-start)
			}
			rc, err := r.store.Get(r.ctx, r.key, start, length)
			if err != nil {
				return n, mapStoreErr(err)
			}
			buf, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return n, mapStoreErr(err)
			}
			r.read += int64(len(buf))
			r.block, r.blockOff = buf, start
			if len(buf) == 0 {
				return n, io.ErrUnexpectedEOF
			}
		}
		c := copy(p[n:], r.block[off-r.blockOff:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
