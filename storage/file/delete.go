package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/storage"
)

// Delete removes key; a missing key is not an error. Directories left empty
// are removed too, up to the store's root.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	path := s.path(key)
	fi, err := os.Lstat(path)
	if isNotExist(err) || err == nil && fi.IsDir() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, classify(err))
	}
	if err := os.Remove(path); err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, classify(err))
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("delete %s: %w", key, classify(err))
	}
	s.prune(dir)
	return nil
}

// prune removes dir and its parents below root while they are empty. It is
// best effort: a directory that is not empty (or in use by a concurrent Put,
// whose temporary file keeps it non-empty) stops it.
func (s *Store) prune(dir string) {
	removed := false
	for dir != s.root && len(dir) > len(s.root) {
		if os.Remove(dir) != nil {
			break
		}
		removed = true
		dir = filepath.Dir(dir)
	}
	if removed {
		syncDir(dir)
	}
}
