//go:build unix

package file

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/imgcloud/gateway/storage"
)

func TestFailMapsErrors(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: "/x", Err: errno}
	}
	cases := []struct {
		err               error
		notFound, unavail bool
	}{
		{pathErr(syscall.ENOENT), true, false},
		{pathErr(syscall.ENOTDIR), true, false},
		{pathErr(syscall.ENOSPC), false, true},
		{pathErr(syscall.EDQUOT), false, true},
		{pathErr(syscall.EROFS), false, true},
		{pathErr(syscall.EACCES), false, true},
		{pathErr(syscall.EIO), false, true},
		{pathErr(syscall.EEXIST), false, false},
		{errors.New("other"), false, false},
	}
	for _, c := range cases {
		err := fail("put", "k", c.err)
		if errors.Is(err, storage.ErrNotFound) != c.notFound || errors.Is(err, storage.ErrUnavailable) != c.unavail {
			t.Errorf("fail(%v) = %v: notFound %v unavailable %v, want %v %v", c.err, err,
				errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrUnavailable), c.notFound, c.unavail)
		}
		if c.unavail && !errors.Is(err, c.err) {
			t.Errorf("fail(%v) = %v does not wrap the cause", c.err, err)
		}
	}
}
