package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/storage"
)

// tempPattern names temporary files; '~' never occurs in a valid key.
const tempPattern = ".put~*"

// copyBufSize bounds the buffer Put copies through.
const copyBufSize = 256 << 10

// Put writes exactly size bytes from r to key, atomically and durably.
// A body shorter than size fails with an error wrapping io.ErrUnexpectedEOF,
// a longer one fails too; either way nothing is written and a previous
// object at key stays as it was.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := s.createTemp(key)
	if err != nil {
		return fmt.Errorf("put %s: create temporary file: %w", key, classify(err))
	}
	tmp := f.Name()
	if err := writeTemp(ctx, f, r, size); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	path := s.path(key)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	return nil
}

// writeTemp copies the body into f, then makes it durable and closes it.
func writeTemp(ctx context.Context, f *os.File, r io.Reader, size int64) error {
	if err := copyExact(ctx, f, r, size); err != nil {
		return err
	}
	if err := f.Chmod(filePerm); err != nil {
		return classify(err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", classify(err))
	}
	if err := f.Close(); err != nil {
		return classify(err)
	}
	return nil
}

// copyExact copies exactly size bytes from r to w and checks that r ends
// there. It checks ctx before every read.
func copyExact(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	buf := make([]byte, max(1, min(size, copyBufSize)))
	var written int64
	for written < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf[:min(int64(len(buf)), size-written)])
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return classify(err)
			}
			written += int64(n)
		}
		switch {
		case rerr == io.EOF && written < size:
			return fmt.Errorf("body ended after %d of %d bytes: %w", written, size, io.ErrUnexpectedEOF)
		case rerr != nil && rerr != io.EOF:
			return fmt.Errorf("read body: %w", rerr)
		}
	}
	// The body must end exactly at size.
	n, err := io.ReadFull(r, buf[:1])
	if n > 0 {
		return fmt.Errorf("body longer than %d bytes", size)
	}
	if err != io.EOF {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// createTemp creates a temporary file in key's directory, creating the
// directories if needed. A concurrent Delete may prune an empty directory
// between its creation and use, so this is retried a few times.
func (s *Store) createTemp(key string) (*os.File, error) {
	dir := filepath.Dir(s.path(key))
	for attempt := 0; ; attempt++ {
		f, err := os.CreateTemp(dir, tempPattern)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			return f, err
		}
		if err := s.mkdirs(key, true); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
}

// mkdirs creates the directories leading to key, fsyncing the parent of
// each one it creates (when sync is set) so the new entries survive a crash.
// It tries the deepest first: usually only the last one is missing.
func (s *Store) mkdirs(key string, sync bool) error {
	return s.mkdir(filepath.Dir(s.path(key)), sync, 0)
}

func (s *Store) mkdir(dir string, sync bool, depth int) error {
	if dir == s.root || depth > 64 {
		return nil
	}
	err := os.Mkdir(dir, dirPerm)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.mkdir(filepath.Dir(dir), sync, depth+1); err != nil {
			return err
		}
		err = os.Mkdir(dir, dirPerm)
	}
	switch {
	case err == nil && sync:
		return syncDir(filepath.Dir(dir))
	case err == nil:
		// WriteIn and MoveIn: the new entry is made durable by Sync.
		s.pend.addDir(filepath.Dir(dir))
		return nil
	case errors.Is(err, fs.ErrExist):
		return nil
	}
	return err
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable. A directory that no longer exists was pruned by a
// concurrent Delete, which synced its parent; that is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
