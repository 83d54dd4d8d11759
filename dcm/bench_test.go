package dcm

import "testing"

// BenchmarkReadHeader reads each real file; MB/s is over the whole file,
// pixel data included (which ReadHeader skips, except when inflating).
func BenchmarkReadHeader(b *testing.B) {
	for _, rf := range realFiles {
		b.Run(rf.name, func(b *testing.B) {
			file := readReal(b, rf.name)
			b.SetBytes(int64(len(file)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readBytes(file, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
