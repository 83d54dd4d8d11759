package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

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
// is called after each object with the number done and the total, 0 until
// the listing has ended.
//
// The listing is not held: objects flow from it to readers that read and
// parse reindexWorkers headers at once, a chunk of objects after another,
// while the previous chunk's rows are written; rows are written in key
// order (the feed's order does not depend on which read finished first).
func (s *Service) Reindex(ctx context.Context, progress func(done, total int)) (ReindexStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	listed := make(chan storage.ObjectInfo, reindexChunk)
	var listErr error
	var total atomic.Int64
	go func() {
		defer close(listed)
		n := 0
		listErr = s.store.List(ctx, storage.StudiesPrefix, func(oi storage.ObjectInfo) error {
			if !strings.HasSuffix(oi.Key, ".dcm") {
				return nil
			}
			select {
			case listed <- oi:
				n++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if listErr == nil {
			total.Store(int64(n))
		}
	}()
	chunks := make(chan []reindexed, 1) // one chunk read ahead of the writer
	go func() {
		defer close(chunks)
		keys := make([]storage.ObjectInfo, 0, reindexChunk)
		for more := true; more; {
			keys = keys[:0]
			for len(keys) < reindexChunk {
				oi, ok := <-listed
				if !ok {
					more = false
					break
				}
				keys = append(keys, oi)
			}
			if len(keys) == 0 {
				return
			}
			c := s.readChunk(ctx, keys)
			select {
			case chunks <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	var st ReindexStats
	defer func() {
		// On an early return, the lister and the reader stop before
		// Reindex does.
		cancel()
		for range chunks {
		}
		for range listed {
		}
	}()
	for c := range chunks {
		for _, r := range c {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			err := r.err
			if err == nil {
				err = s.db.PutInstance(r.row)
			}
			st.BytesRead += r.read
			switch {
			case err == nil:
				st.Indexed++
			case errors.Is(err, index.ErrExists):
				st.Skipped++
			case errors.Is(err, ErrUnavailable):
				return st, err
			default:
				st.Failed++
				s.log.Warn("reindex: object skipped", "key", r.key, "err", err)
			}
			st.Objects++
			if progress != nil {
				progress(st.Objects, int(total.Load()))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// The reader has closed chunks after the lister closed listed.
	if listErr != nil {
		return st, mapStoreErr(fmt.Errorf("list objects: %w", listErr))
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

// reindexWorkers objects are read and parsed at once (reads wait on the
// store, parsing takes a core); reindexChunk objects are read before
// their rows are written, which bounds the rows held in memory.
const (
	reindexWorkers = 8
	reindexChunk   = 512
)

// reindexed is one object read for Reindex: its row, or why not.
type reindexed struct {
	key  string
	row  index.NewInstance
	read int64
	err  error
}

// readChunk reads and parses the headers of keys, reindexWorkers at a
// time, and returns them in the order of keys.
func (s *Service) readChunk(ctx context.Context, keys []storage.ObjectInfo) []reindexed {
	out := make([]reindexed, len(keys))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(reindexWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(keys) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				r := &out[i]
				r.key = keys[i].Key
				r.row, r.read, r.err = s.readForReindex(ctx, keys[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// reindexOne indexes one object (fsck --repair).
func (s *Service) reindexOne(ctx context.Context, oi storage.ObjectInfo) error {
	row, _, err := s.readForReindex(ctx, oi)
	if err != nil {
		return err
	}
	return s.db.PutInstance(row)
}

func (s *Service) readForReindex(ctx context.Context, oi storage.ObjectInfo) (index.NewInstance, int64, error) {
	ra := &storeReaderAt{ctx: ctx, store: s.store, key: oi.Key, size: oi.Size}
	// No party stores here: the gateway's default character set applies.
	h, err := dcm.ReadHeader(ra, oi.Size, s.limits(ctx))
	if err != nil {
		return index.NewInstance{}, ra.read, fmt.Errorf("read header of %s: %w", oi.Key, err)
	}
	if want := storage.InstanceKey(h.StudyUID, h.SeriesUID, h.SOPUID); want != oi.Key {
		return index.NewInstance{}, ra.read, fmt.Errorf("object %s holds instance %s, whose key would be %s", oi.Key, h.SOPUID, want)
	}
	// The checksum is left empty, so reindex reads headers only: a
	// re-store compares bytes anyway, and fsck --deep skips such rows.
	s.noteIngest(h)
	row, meta, err := s.indexRow(h, oi.Size, "")
	if err != nil {
		return index.NewInstance{}, ra.read, err
	}
	// An object compressed at ingest says what was received (compress.go).
	row.Received = receivedOf(h)
	return index.NewInstance{
		Instance: row, Meta: meta,
		SeriesAttrs: pick(h.Dataset, seriesTags), StudyAttrs: pick(h.Dataset, studyTags),
		Modality: h.Dataset.String(tagModality),
		// The object's time is the best record of arrival left.
		Received: oi.ModTime,
	}, ra.read, nil
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
