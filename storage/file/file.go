// Package file implements storage.Store on a local folder: one file per
// key, laid out by the key's slash-separated segments.
//
// Writes are atomic and durable: Put writes a temporary file next to the
// target, fsyncs it, renames it over the target and fsyncs the directory, so
// a reader or a crash sees the old object or the new one, never a mix.
// Temporary files carry a '~', which keys never contain, so List skips them.
package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/imgcloud/gateway/storage"
)

// Permissions of the files and directories the store creates. DICOM holds
// patient data, so neither is readable by other users.
const (
	filePerm = 0o640
	dirPerm  = 0o750
)

// Store is a storage.Store kept in a local directory. It is safe for
// concurrent use, also by several processes sharing the directory.
type Store struct {
	root string // absolute, cleaned
	// tmpTag and seq name WriteIn's temporary files, unique across the
	// processes that may share the folder.
	tmpTag string
	seq    atomic.Uint64
	// pend are the writes the next Sync makes durable (pending.go).
	pend pending
}

var _ storage.Store = (*Store)(nil)

// Open returns a Store rooted at dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, classify(err))
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, classify(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open store %s: not a directory", dir)
	}
	return &Store{root: root, tmpTag: ".put~" + strconv.Itoa(os.Getpid()) + "-"}, nil
}

// Dir returns the absolute path of the store's root directory.
func (s *Store) Dir() string { return s.root }

// path returns the file path of a key that passed storage.ValidKey; such a
// key has no "..", "." or empty segment, so the path stays under root.
func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Stat returns the size and modification time of key.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := storage.CheckKey("stat", key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return storage.ObjectInfo{}, fail("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, storage.ErrNotFound)
	}
	return storage.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
