package rle_test

import (
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/rle"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// BenchmarkDecode decodes the frames of DCMTK's RLE files (dcmcrle of the
// real and synthesised originals); compare with `time dcmdrle` on the
// same files (BENCHMARKS.md).
func BenchmarkDecode(b *testing.B) {
	for _, f := range codectest.Files(b, codec.RLELossless) {
		fr, frames := codectest.Frames(b, f.Path)
		b.Run(f.Name, func(b *testing.B) {
			b.SetBytes(int64(fr.Size() * len(frames)))
			for b.Loop() {
				for _, src := range frames {
					if _, err := (rle.Decoder{}).Decode(src, fr); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkEncode encodes the native originals; the log gives the ratio.
func BenchmarkEncode(b *testing.B) {
	for _, f := range codectest.Files(b, codec.RLELossless) {
		fr, frames := codectest.Frames(b, f.Source)
		b.Run(f.Name, func(b *testing.B) {
			b.SetBytes(int64(fr.Size() * len(frames)))
			var n int
			for b.Loop() {
				n = 0
				for _, src := range frames {
					out, err := (rle.Encoder{}).Encode(src, fr)
					if err != nil {
						b.Fatal(err)
					}
					n += len(out)
				}
			}
			b.ReportMetric(float64(fr.Size()*len(frames))/float64(n), "ratio")
		})
	}
}
