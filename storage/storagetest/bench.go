package storagetest

import (
	"fmt"
	"io"
	"testing"

	"github.com/imgcloud/gateway/storage"
)

// Bench measures Put and then Get of 1 MiB and 8 MiB objects on s, one
// sub-benchmark each, with b.SetBytes set to the object size. Bodies are
// plain readers (no Seek or ReadAt), as request bodies are.
func Bench(b *testing.B, s storage.Store) {
	for _, size := range []int64{1 << 20, 8 << 20} {
		key := fmt.Sprintf("bench/%dMiB.dcm", size>>20)
		b.Run(fmt.Sprintf("Put/%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if err := s.Put(b.Context(), key, RandomReader(1, size), size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Get/%dMiB", size>>20), func(b *testing.B) {
			if err := s.Put(b.Context(), key, RandomReader(1, size), size); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				rc, err := s.Get(b.Context(), key, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != size {
					b.Fatalf("read %d of %d bytes: %v", n, size, err)
				}
			}
		})
	}
}
