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

// Create creates path exclusively for writing, with O_DIRECT when direct is
// asked and the file system supports it (tmpfs and some FUSE file systems
// do not; the file is then opened normally). It reports whether the file
// is open for direct I/O.
func Create(path string, perm os.FileMode, direct bool) (*os.File, bool, error) {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
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
// data is durable only after an fsync or syncfs, like any write.
func WriteAll(f *os.File, direct bool, data []byte) error {
	head := 0
	if direct && Aligned(data) {
		head = len(data) &^ (Align - 1)
	}
	if head > 0 {
		n, err := f.Write(data[:head])
		if err != nil && !errors.Is(err, errUnsupported) {
			return err
		}
		head = n &^ (Align - 1) // a refused or short direct write is redone below
	}
	if direct {
		if err := clearDirect(f); err != nil {
			return fmt.Errorf("leave direct I/O: %w", err)
		}
	}
	if head == len(data) {
		return nil
	}
	_, err := f.WriteAt(data[head:], int64(head))
	return err
}
