//go:build unix

package file

import (
	"errors"
	"syscall"
)

// isNotDir reports whether err is ENOTDIR: a parent of the path is a file.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

// isUnavailable reports whether err is an errno that the caller cannot fix
// by changing its request.
func isUnavailable(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EACCES, syscall.EPERM,
		syscall.EIO, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ESTALE:
		return true
	}
	return false
}
