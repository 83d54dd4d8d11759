package file

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/imgcloud/gateway/storage"
)

// Get opens key for reading length bytes from offset (length < 0: to the
// end), clamped to the object. ctx only bounds the opening; the returned
// reader reads the file with pread and does not watch ctx.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckKey("get", key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fail("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fail("get", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, storage.ErrNotFound)
	}
	start, n := storage.ClampRange(fi.Size(), offset, length)
	return &section{SectionReader: io.NewSectionReader(f, start, n), f: f}, nil
}

// section reads a byte range of an open file and closes the file.
type section struct {
	*io.SectionReader
	f *os.File
}

// Close closes the underlying file.
func (s *section) Close() error { return s.f.Close() }
