//go:build linux

package file

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncfs flushes the whole file system holding dir in one call.
func syncfs(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
