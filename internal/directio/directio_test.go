package directio

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWriteAll writes files of sizes around the block size, from aligned
// and unaligned buffers, and reads back exactly the bytes given. On Linux
// over a file system with direct I/O (ext4, xfs), large aligned writes
// must really open the file for it.
func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i, n := range []int{1, Align - 1, Align, Align + 1, MinSize, MinSize + 4095, 3*MinSize + 17} {
		for _, shift := range []int{0, 1} {
			data := Alloc(n+shift, n+shift)[shift:]
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			path := filepath.Join(dir, "f"+string(rune('a'+i))+string(rune('0'+shift)))
			f, direct, err := Create(path, 0o600, true)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS == "linux" && !direct {
				t.Logf("%s: the file system under %s refuses O_DIRECT; buffered writes checked only", path, dir)
			}
			if err := WriteAll(f, direct, data); err != nil {
				t.Fatalf("%d bytes (shift %d): %v", n, shift, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%d bytes (shift %d, direct %v): read back %d bytes that differ", n, shift, direct, len(got))
			}
		}
	}
	if _, _, err := Create(filepath.Join(dir, "fa0"), 0o600, true); !os.IsExist(err) {
		t.Fatalf("Create over an existing file: %v, want it to exist", err)
	}
}

func TestAlloc(t *testing.T) {
	for _, n := range []int{1, 100, 64 << 10, 3 << 20} {
		b := Alloc(n, 2*n)
		if !Aligned(b) || len(b) != n || cap(b) != 2*n {
			t.Fatalf("Alloc(%d, %d): aligned %v, len %d, cap %d", n, 2*n, Aligned(b), len(b), cap(b))
		}
	}
}

// TestWriter streams files of several sizes through Write and ReadFrom in
// uneven pieces: the file and the tee both receive exactly the bytes given.
func TestWriter(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for i, n := range []int{0, 10, Align, 3*Align + 5, 5<<20 + 123} {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, "w"+string(rune('a'+i)))
		f, direct, err := Create(path, 0o600, true)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWriter(f, direct, 1<<20)
		var tee bytes.Buffer
		w.Tee = &tee
		split := min(n, rng.IntN(n+1))
		for p := data[:split]; len(p) > 0; {
			k := min(len(p), rng.IntN(70000)+1)
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if _, err := w.ReadFrom(bytes.NewReader(data[split:])); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if w.Written() != int64(n) {
			t.Fatalf("%d bytes: Written says %d", n, w.Written())
		}
		f.Close()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || !bytes.Equal(tee.Bytes(), data) {
			t.Fatalf("%d bytes (direct %v): file has %d, tee %d, not the bytes written", n, direct, len(got), tee.Len())
		}
	}
}
