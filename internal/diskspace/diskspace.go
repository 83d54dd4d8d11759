// Package diskspace tells how much room is left on the volumes the gateway
// writes to. Badger maps its write-ahead files into memory, and a write
// into such a mapping on a full disk kills the process with SIGBUS instead
// of returning an error, so the gateway refuses new data while the index
// volume is nearly full (see archive.Options.MinFreeBytes and
// index.Options.MinFreeBytes).
package diskspace

import (
	"errors"
	"fmt"
)

// ErrFull is returned (wrapped) by Check when a volume has less room than
// it must keep; the HTTP layer answers 503.
var ErrFull = errors.New("disk almost full")

// Free returns the bytes available to unprivileged writers on the volume
// holding dir.
func Free(dir string) (int64, error) { return free(dir) }

// Check returns an error wrapping ErrFull when the volume holding dir has
// less than min bytes free (min <= 0 checks nothing).
func Check(dir string, min int64) error {
	if min <= 0 {
		return nil
	}
	n, err := free(dir)
	if err != nil {
		return err
	}
	if n < min {
		return fmt.Errorf("%w: %d bytes free under %s, %d kept free; the gateway stores nothing until space is freed", ErrFull, n, dir, min)
	}
	return nil
}
