package render

import (
	"io"
	"testing"
)

// BenchmarkCTFrame renders frame 1 of the real 512x512 16-bit CT (5.dcm)
// with the window from pixel statistics and encodes it as JPEG.
func BenchmarkCTFrame(b *testing.B) {
	f := loadSource(b, "5.dcm")
	p, err := ParamsFrom(f.ds)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		img, _, err := Frame(p, f.syntax, f.frames[0], Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := Encode(io.Discard, img, MediaJPEG, 90); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRThumbnail renders the real 2140x1760 CR (4.dcm) into a
// 128x128 thumbnail.
func BenchmarkCRThumbnail(b *testing.B) {
	f := loadSource(b, "4.dcm")
	p, err := ParamsFrom(f.ds)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		img, _, err := Frame(p, f.syntax, f.frames[0], Options{Viewport: Viewport{Width: 128, Height: 128}})
		if err != nil {
			b.Fatal(err)
		}
		if err := Encode(io.Discard, img, MediaJPEG, 75); err != nil {
			b.Fatal(err)
		}
	}
}
