package codectest

import (
	"errors"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// FuzzDecoder is the body of a decoder's fuzz target: seeded with the
// first frame of each small file of the syntaxes, it decodes any bytes
// for any frame and fails on an image of another size than the frame or
// an error wrapping neither codec.ErrInvalid nor codec.ErrUnsupported (a
// panic fails by itself). size reads the image size from the codestream's
// own header, so that most mutated streams get past the header checks
// into the decoder proper; ok false leaves the fuzzed size.
func FuzzDecoder(f *testing.F, d codec.Decoder, size func(src []byte) (rows, cols int, ok bool), syntaxes ...string) {
	for _, file := range Files(f, syntaxes...) {
		fr, frames := Frames(f, file.Path)
		if fr.Rows*fr.Columns > 256*256 {
			continue
		}
		f.Add(frames[0], true, uint16(fr.Rows), uint16(fr.Columns), fr.Samples == 3, fr.BitsAllocated == 16, uint8(fr.BitsStored), fr.Signed)
	}
	f.Fuzz(func(t *testing.T, src []byte, fromHeader bool, rows, cols uint16, rgb, wide bool, stored uint8, signed bool) {
		fr := codec.Frame{Rows: int(rows % 1024), Columns: int(cols % 1024), Samples: 1, BitsAllocated: 8, BitsStored: int(stored), Signed: signed}
		if rgb {
			fr.Samples = 3
		}
		if wide {
			fr.BitsAllocated = 16
		}
		if r, c, ok := size(src); fromHeader && ok {
			if r <= 0 || c <= 0 || r > 1024 || c > 1024 {
				return
			}
			fr.Rows, fr.Columns = r, c
		}
		img, err := d.Decode(src, fr)
		if err == nil && len(img.Pixels) != fr.Size() {
			t.Fatalf("%d bytes decoded for a frame of %d", len(img.Pixels), fr.Size())
		}
		if err != nil && !errors.Is(err, codec.ErrInvalid) && !errors.Is(err, codec.ErrUnsupported) {
			t.Fatalf("err %v wraps neither ErrInvalid nor ErrUnsupported", err)
		}
	})
}
