// Package diskspace tells how much room is left on the volumes the gateway
// writes to. Badger maps its write-ahead files into memory, and a write
// into such a mapping on a full disk kills the process with SIGBUS instead
// of returning an error, so the gateway refuses new data while the index
// volume is nearly full (see archive.Options.MinFreeBytes).
package diskspace

// Free returns the bytes available to unprivileged writers on the volume
// holding dir.
func Free(dir string) (int64, error) { return free(dir) }
