package jpeg

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// FuzzDecode feeds arbitrary codestreams and frame attributes to Decode:
// it must return a frame of exactly the declared size or ErrInvalid /
// ErrUnsupported, never panic, and finish in time proportional to the
// frame. Seeds are the third-party streams of the hostile tests and their
// hostile edits (when DCMTK and cjpeg are installed) and a few hand-made
// headers.
func FuzzDecode(f *testing.F) {
	add := func(src []byte, fr codec.Frame) {
		f.Add(src, uint16(fr.Rows), uint16(fr.Columns), uint8(fr.Samples), fr.BitsAllocated == 16, uint8(fr.BitsStored), fr.Signed, fr.Photometric == "YBR_FULL_422")
	}
	_, errD := exec.LookPath("dcmcjpeg")
	_, errC := exec.LookPath("cjpeg")
	if errD == nil && errC == nil {
		for _, s := range realStreams(f) {
			add(s.src, s.f)
			for _, c := range hostileCases(f, s) {
				add(c.src, c.f)
			}
		}
	}
	gray := codec.Frame{Rows: 8, Columns: 8, Samples: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"}
	add([]byte{0xFF, mSOI, 0xFF, mEOI}, gray)
	add([]byte{0xFF, mSOI, 0xFF, mSOF3, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, mSOS, 0, 8, 1, 1, 0, 1, 0, 0, 0xFF, mEOI}, gray)
	add([]byte{0xFF, mSOI, 0xFF, mDRI, 0, 4, 0xFF, 0xFF, 0xFF, mSOF0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, mEOI}, gray)
	f.Fuzz(func(t *testing.T, src []byte, rows, cols uint16, samples uint8, bits16 bool, bitsStored uint8, signed, ybr bool) {
		if int(rows)*int(cols) > 1<<16 {
			return // bounded work per input; size checks are tested apart
		}
		fr := codec.Frame{Rows: int(rows), Columns: int(cols), Samples: 1, BitsAllocated: 8, Signed: signed, Photometric: "MONOCHROME2"}
		if samples%2 == 1 {
			fr.Samples, fr.Photometric = 3, "RGB"
			if ybr {
				fr.Photometric = "YBR_FULL_422"
			}
		}
		if bits16 {
			fr.BitsAllocated = 16
		}
		fr.BitsStored = 1 + int(bitsStored)%fr.BitsAllocated
		img, err := Decoder{}.Decode(src, fr)
		if err != nil {
			if !errors.Is(err, codec.ErrInvalid) && !errors.Is(err, codec.ErrUnsupported) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrUnsupported", err)
			}
			return
		}
		if len(img.Pixels) != fr.Size() {
			t.Fatalf("%d bytes decoded for a frame of %d", len(img.Pixels), fr.Size())
		}
	})
}
