// Package directio writes large files around the page cache. On this kind
// of virtual machine, filling fresh page-cache pages costs more CPU than
// anything else in ingest (a buffered 7.5 MB file costs 15-25 ms of CPU, a
// direct one under 1 ms), and the pages must still be written back later.
// Direct I/O hands the caller's buffer to the disk instead; it only pays
// off for large writes, and needs buffers, offsets and lengths aligned to
// the block size, so only the aligned head of a file goes direct and the
// tail goes through the page cache.
package directio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"
)

// Align is the alignment direct I/O needs for buffers, offsets and lengths
// (the largest logical block size in common use).
const Align = 4096

// MinSize is the smallest write worth doing direct: below it, the per-write
// cost of direct I/O (pinning pages, waiting for the device) exceeds the
// page-cache copy it saves.
const MinSize = 1 << 20

// Alloc returns a zeroed slice of length n and capacity c (c >= n) whose
// first byte is Align-aligned.
func Alloc(n, c int) []byte {
	b := make([]byte, c+Align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % Align); r != 0 {
		off = Align - r
	}
	return b[off : off+n : off+c]
}

// Aligned reports whether b starts on an Align boundary.
func Aligned(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%Align == 0
}

// Create creates path exclusively for reading and writing, with O_DIRECT when direct is
// asked and the file system supports it (tmpfs and some FUSE file systems
// do not; the file is then opened normally). It reports whether the file
// is open for direct I/O.
func Create(path string, perm os.FileMode, direct bool) (*os.File, bool, error) {
	flag := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if direct && directFlag != 0 {
		f, err := os.OpenFile(path, flag|directFlag, perm)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, errUnsupported) {
			return nil, false, err
		}
	}
	f, err := os.OpenFile(path, flag, perm)
	return f, false, err
}

// WriteAll writes data at the start of f. When f was opened for direct I/O
// and data is aligned, the aligned head goes to the disk directly; the
// rest (and everything, otherwise) through the page cache. Either way the
// data is durable only after an fsync or syncfs, like any write. f is left
// in buffered mode.
func WriteAll(f *os.File, direct bool, data []byte) error {
	return writeAt(f, direct, data, 0, true)
}

// writeAt writes data at off (aligned when direct). Unless last, data must
// be a whole number of blocks; last leaves f in buffered mode.
func writeAt(f *os.File, direct bool, data []byte, off int64, last bool) error {
	head := 0
	if direct && Aligned(data) {
		head = len(data) &^ (Align - 1)
	}
	if head > 0 {
		n, err := f.WriteAt(data[:head], off)
		if err != nil && !errors.Is(err, errUnsupported) {
			return err
		}
		head = n &^ (Align - 1) // a refused or short direct write is redone below
	}
	if head == len(data) && !last {
		return nil
	}
	if direct {
		if err := clearDirect(f); err != nil {
			return fmt.Errorf("leave direct I/O: %w", err)
		}
	}
	if head == len(data) {
		return nil
	}
	_, err := f.WriteAt(data[head:], off+int64(head))
	return err
}

// Writer writes a file sequentially from its start, in aligned blocks that
// go to the disk directly when the file is open for it; Close writes the
// last, partial block through the page cache. Tee, when set, receives every
// byte before it is written (a checksum, say).
type Writer struct {
	f      *os.File
	direct bool
	buf    []byte
	off    int64
	Tee    io.Writer
}

// NewWriter returns a Writer with an aligned buffer of block bytes (rounded
// up to Align).
func NewWriter(f *os.File, direct bool, block int) *Writer {
	block = (max(block, Align) + Align - 1) &^ (Align - 1)
	return &Writer{f: f, direct: direct, buf: Alloc(0, block)}
}

// Write buffers p, writing every block it fills.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p, n = w.buf[:len(w.buf)+c], p[c:], n+c
		if err := w.flushFull(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom reads r to its end straight into the block buffer.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		m, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf, total = w.buf[:len(w.buf)+m], total+int64(m)
		if ferr := w.flushFull(); ferr != nil {
			return total, ferr
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *Writer) flushFull() error {
	if len(w.buf) < cap(w.buf) {
		return nil
	}
	return w.flush(false)
}

func (w *Writer) flush(last bool) error {
	if w.Tee != nil {
		w.Tee.Write(w.buf)
	}
	if err := writeAt(w.f, w.direct, w.buf, w.off, last); err != nil {
		return err
	}
	w.off += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Close writes what is left; it does not close the file, which is left in
// buffered mode.
func (w *Writer) Close() error { return w.flush(true) }

// Written is how many bytes were written (Close included).
func (w *Writer) Written() int64 { return w.off + int64(len(w.buf)) }
