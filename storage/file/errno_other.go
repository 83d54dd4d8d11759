//go:build !unix

package file

import (
	"errors"
	"io/fs"
)

// isNotDir reports whether err means a parent of the path is a file; outside
// Unix the error is not distinguishable, so it reports false.
func isNotDir(error) bool { return false }

// isUnavailable reports whether err is a condition the caller cannot fix by
// changing its request; outside Unix only permission errors are recognised.
func isUnavailable(err error) bool { return errors.Is(err, fs.ErrPermission) }
