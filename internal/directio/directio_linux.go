package directio

import (
	"os"

	"golang.org/x/sys/unix"
)

const directFlag = unix.O_DIRECT

// errUnsupported is what open and write return for O_DIRECT where the file
// system or the buffer does not allow it.
const errUnsupported = unix.EINVAL

// clearDirect switches f back to buffered I/O for an unaligned tail.
func clearDirect(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		var fl int
		if fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0); ferr == nil {
			_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_DIRECT)
		}
	})
	if err != nil {
		return err
	}
	return ferr
}
