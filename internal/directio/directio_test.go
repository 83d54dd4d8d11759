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
