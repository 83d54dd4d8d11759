package file

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/imgcloud/gateway/storage"
)

// fail wraps an error from the file system with the action and key, mapping
// a missing file to storage.ErrNotFound and a full, read-only or forbidden
// file system to storage.ErrUnavailable.
func fail(action, key string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("%s %s: %w", action, key, storage.ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", action, key, classify(err))
}

// classify marks err as storage.ErrUnavailable when it means the disk
// cannot take the request (full, read-only, permission, I/O error); other
// errors are returned unchanged.
func classify(err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// isNotExist reports whether err means the path, or one of its parents as a
// directory, does not exist.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || isNotDir(err)
}
