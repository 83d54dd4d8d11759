package storagetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// RandomReader returns a reader of size pseudo-random bytes determined by
// seed, generated as they are read: two readers with the same seed yield the
// same bytes, so large objects can be written and checked without holding
// them in memory. It hides everything but Read, as a network body would.
func RandomReader(seed uint64, size int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8(s), size)}
}

// SameContent reads got and want to the end and returns an error describing
// the first difference, comparing a chunk at a time.
func SameContent(got, want io.Reader) error {
	const chunk = 256 << 10
	gb, wb := make([]byte, chunk), make([]byte, chunk)
	var off int64
	for {
		gn, gerr := io.ReadFull(got, gb)
		wn, werr := io.ReadFull(want, wb)
		if gerr != nil && gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("read at offset %d: %w", off+int64(gn), gerr)
		}
		if werr != nil && werr != io.EOF && werr != io.ErrUnexpectedEOF {
			return fmt.Errorf("read expected content at offset %d: %w", off+int64(wn), werr)
		}
		if i := firstDiff(gb[:gn], wb[:wn]); i >= 0 {
			return fmt.Errorf("content differs at offset %d", off+int64(i))
		}
		if gn != wn {
			return fmt.Errorf("got %d bytes, want %d", off+int64(gn), off+int64(wn))
		}
		off += int64(gn)
		if gerr != nil {
			return nil
		}
	}
}

// firstDiff returns the first index where a and b differ over their common
// length, or -1.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	if bytes.Equal(a[:n], b[:n]) {
		return -1
	}
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// hookReader calls hook once, after at least after bytes were read.
type hookReader struct {
	r     io.Reader
	after int64
	read  int64
	hook  func()
}

// Read reads and fires the hook when the threshold is crossed.
func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += int64(n)
	if h.hook != nil && h.read >= h.after {
		hook := h.hook
		h.hook = nil
		hook()
	}
	return n, err
}

// HookReader returns a reader of r that calls hook (once, in the reading
// goroutine) as soon as at least after bytes were read, before returning
// them. Tests use it to cancel a context or stop a server mid-upload.
func HookReader(r io.Reader, after int64, hook func()) io.Reader {
	return &hookReader{r: r, after: after, hook: hook}
}

// errReader returns n bytes of zeros and then err.
type errReader struct {
	n   int
	err error
}

// Read returns zeros until n is used up, then err.
func (e *errReader) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, e.err
	}
	k := min(len(p), e.n)
	clear(p[:k])
	e.n -= k
	return k, nil
}
