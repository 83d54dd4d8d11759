package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"github.com/imgcloud/gateway/internal/directio"
	"github.com/imgcloud/gateway/storage"
)

// MoveIn makes the local file f the object under key by renaming it into
// place, so an instance spooled by the archive is written once, not copied
// a second time. f must hold exactly size bytes and live on the same
// volume; otherwise MoveIn returns storage.ErrCannotMove and the caller
// falls back to Put. On success f's path no longer exists; the caller
// still closes f. The object is durable after the next Sync: callers that
// move many files make them durable together (one syncfs instead of two
// fsyncs per file).
func (s *Store) MoveIn(ctx context.Context, key string, f *os.File, size int64) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	if fi.Size() != size {
		return fmt.Errorf("put %s: file holds %d bytes, not %d", key, fi.Size(), size)
	}
	if err := f.Chmod(filePerm); err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	path := s.path(key)
	for attempt := 0; ; attempt++ {
		err = os.Rename(f.Name(), path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			break
		}
		// The directories do not exist yet (or a Delete pruned them).
		if err := s.mkdirs(key, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("put %s: %w", key, classify(err))
		}
	}
	if errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("put %s: %w", key, storage.ErrCannotMove)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	s.pend.addFile(path)
	return nil
}

// WriteIn makes data the object under key without waiting for the disk:
// written to a temporary file beside it and renamed into place, so the
// object is never seen half-written. Like MoveIn it is durable after the
// next Sync; STOW uses it for instances small enough to spool in memory.
func (s *Store) WriteIn(ctx context.Context, key string, data []byte) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	path := s.path(key)
	tmp := path + s.tmpTag + strconv.FormatUint(s.seq.Add(1), 36)
	// Large objects skip the page cache (see package directio).
	wantDirect := len(data) >= directio.MinSize && directio.Aligned(data)
	var f *os.File
	var direct bool
	var err error
	for attempt := 0; ; attempt++ {
		f, direct, err = directio.Create(tmp, filePerm, wantDirect)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			break
		}
		if err := s.mkdirs(key, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("put %s: %w", key, classify(err))
		}
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	err = directio.WriteAll(f, direct, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	s.pend.addFile(path)
	return nil
}

// Sync makes every object MoveIn and WriteIn wrote since the last Sync
// durable, with the directory entries that name them: the group commit of
// MoveIn. The files are fsynced together (or the volume with one
// syncfs(2) when they are many).
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.syncPending(); err != nil {
		return fmt.Errorf("sync %s: %w", s.root, classify(err))
	}
	return nil
}
