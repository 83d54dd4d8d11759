package render

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

// sourceFile is one real file of github.com/suyashkumar/dicom v1.1.0's
// testdata (see its data_details.md for provenance), read with the
// gateway's own scanner: the attributes and every frame's stored bytes.
type sourceFile struct {
	name   string
	ds     dcm.Dataset
	syntax string
	frames [][]byte
}

func loadSource(t testing.TB, name string) sourceFile {
	t.Helper()
	dir, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files unavailable: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	src := b
	if h.Frames.Deflated {
		src, err = io.ReadAll(flate.NewReader(bytes.NewReader(b[h.Frames.DeflateStart:])))
		if err != nil {
			t.Fatalf("%s: inflate: %v", name, err)
		}
	}
	f := sourceFile{name: name, ds: h.Dataset, syntax: h.TransferSyntax}
	for _, ranges := range h.Frames.Frames {
		var fr []byte
		for _, r := range ranges {
			fr = append(fr, src[r.Offset:r.Offset+r.Length]...)
		}
		f.frames = append(f.frames, fr)
	}
	return f
}

// grayExpect computes, independently of the package, the displayed value
// of pixels of a native 16- or 8-bit grayscale frame under window c, w
// (LINEAR, PS3.3 C.11.2.1.2.1).
type grayExpect struct {
	cols, ba, bs, pr int
	slope, intercept float64
	c, w             float64
	mono1            bool
}

func newGrayExpect(f sourceFile, c, w float64) grayExpect {
	e := grayExpect{c: c, w: w, slope: 1, mono1: f.ds.String("00280004") == "MONOCHROME1"}
	e.cols, _ = f.ds.Int("00280011")
	e.ba, _ = f.ds.Int("00280100")
	e.bs, _ = f.ds.Int("00280101")
	e.pr, _ = f.ds.Int("00280103")
	fmt.Sscan(f.ds.String("00281053"), &e.slope)
	fmt.Sscan(f.ds.String("00281052"), &e.intercept)
	return e
}

func (e grayExpect) at(frame []byte, x, y int) float64 {
	v := e.value(frame, x, y)
	var out float64
	switch {
	case v <= e.c-0.5-(e.w-1)/2:
		out = 0
	case v > e.c-0.5+(e.w-1)/2:
		out = 255
	default:
		out = ((v-(e.c-0.5))/(e.w-1) + 0.5) * 255
	}
	if e.mono1 {
		out = 255 - out
	}
	return out
}

// value is the modality value (rescaled) of a pixel.
func (e grayExpect) value(frame []byte, x, y int) float64 {
	i := y*e.cols + x
	var raw int64
	if e.ba == 16 {
		raw = int64(binary.LittleEndian.Uint16(frame[2*i:]))
	} else {
		raw = int64(frame[i])
	}
	raw &= 1<<e.bs - 1
	if e.pr == 1 && raw >= 1<<(e.bs-1) {
		raw -= 1 << e.bs
	}
	return float64(raw)*e.slope + e.intercept
}

func TestRealFiles(t *testing.T) {
	tests := []struct {
		file string
		// window to ask for; zero uses the file's (the test reads it too)
		win   *Window
		frame int
		pet   bool // the file's window is unusable: 0..max is expected
	}{
		// The PET files' own windows leave most of the body black: they
		// show 0 to the frame's maximum activity instead.
		{file: "1.dcm", pet: true}, // PET, signed 16-bit, RescaleSlope 9.12
		{file: "2.dcm", pet: true}, // PET, signed 16-bit
		// The signed, rescaled path over a window asked for.
		{file: "1.dcm", win: &Window{Center: 3000, Width: 6000, Function: Linear}},
		{file: "3.dcm"}, // MR, 12 of 16 bits stored, VOI LUT Function LINEAR
		{file: "4.dcm"}, // CR, MONOCHROME1, Implicit VR, 2140x1760
		{file: "5.dcm", win: &Window{Center: 1100, Width: 400, Function: Linear}, frame: 1}, // CT, 2 frames, no window
		{file: "6.dcm", win: &Window{Center: 100, Width: 120, Function: Linear}},            // deflated 8-bit
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f := loadSource(t, tc.file)
			p, err := ParamsFrom(f.ds)
			if err != nil {
				t.Fatal(err)
			}
			img, used, err := Frame(p, f.syntax, f.frames[tc.frame], Options{Window: tc.win})
			if err != nil {
				t.Fatal(err)
			}
			g, ok := img.(*image.Gray)
			if !ok {
				t.Fatalf("image is %T, want *image.Gray", img)
			}
			if g.Rect.Dx() != p.Columns || g.Rect.Dy() != p.Rows {
				t.Fatalf("size %v, want %dx%d", g.Rect, p.Columns, p.Rows)
			}
			c, w := used.Center, used.Width
			switch {
			case tc.pet:
				e := newGrayExpect(f, 0, 0)
				top := math.Inf(-1)
				for y := range p.Rows {
					for x := range p.Columns {
						top = math.Max(top, e.value(f.frames[tc.frame], x, y))
					}
				}
				if math.Abs(used.Center-top/2) > 1e-6*top || math.Abs(used.Width-top) > 1e-6*top {
					t.Errorf("window used %v, want 0..%g (the frame's maximum)", used, top)
				}
			case tc.win == nil:
				fmt.Sscan(f.ds.String("00281050"), &c)
				fmt.Sscan(f.ds.String("00281051"), &w)
				if used.Center != c || used.Width != w {
					t.Errorf("window used %v, file says %g,%g", used, c, w)
				}
			}
			// Every pixel, against values computed here from the raw bytes.
			e := newGrayExpect(f, c, w)
			var inside int
			for y := range p.Rows {
				for x := range p.Columns {
					want := e.at(f.frames[tc.frame], x, y)
					got := float64(g.GrayAt(x, y).Y)
					if math.Abs(got-want) > 1 {
						t.Fatalf("pixel (%d,%d) = %v, want %.2f", x, y, got, want)
					}
					if want > 0 && want < 255 {
						inside++
					}
				}
			}
			if inside < 40 {
				t.Errorf("only %d pixels fall inside the window: the test checks little", inside)
			}
			t.Logf("%dx%d, window %v, %d pixels inside the window", p.Columns, p.Rows, used, inside)
		})
	}
}

func TestMonochrome1Inverts(t *testing.T) {
	f := loadSource(t, "4.dcm")
	p, err := ParamsFrom(f.ds)
	if err != nil {
		t.Fatal(err)
	}
	if p.Photometric != PhotometricMonochrome1 {
		t.Fatalf("4.dcm is %s", p.Photometric)
	}
	r, err := Decode(p, f.syntax, f.frames[0], testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	w := Window{Center: 511, Width: 1023, Function: Linear}
	inv, _ := Picture(p, r, w)
	p2 := *p
	p2.Photometric = PhotometricMonochrome2
	r2 := *r
	r2.Photometric = PhotometricMonochrome2
	straight, _ := Picture(&p2, &r2, w)
	a, b := inv.(*image.Gray), straight.(*image.Gray)
	for i := range a.Pix {
		if a.Pix[i] != 255-b.Pix[i] {
			t.Fatalf("pixel %d: MONOCHROME1 %d, MONOCHROME2 %d: not inverted", i, a.Pix[i], b.Pix[i])
		}
	}
	// The lowest stored value (no X-ray attenuation) is white.
	lo, at := r.Values[0], 0
	for i, v := range r.Values {
		if v < lo {
			lo, at = v, i
		}
	}
	if a.Pix[at] != 255 {
		t.Errorf("lowest value %d shows as %d, want 255 (white)", lo, a.Pix[at])
	}
}

func TestSigned16(t *testing.T) {
	f := loadSource(t, "1.dcm")
	p, err := ParamsFrom(f.ds)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(p, f.syntax, f.frames[0], testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		want := int32(int16(binary.LittleEndian.Uint16(f.frames[0][2*i:])))
		if r.Values[i] != want {
			t.Fatalf("value %d = %d, want %d", i, r.Values[i], want)
		}
	}
	// A synthetic 12-bit signed image: -2048 and 2047 are the extremes.
	sp := &Params{Rows: 1, Columns: 3, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 12, PixelRepresentation: 1,
		Photometric: PhotometricMonochrome2, RescaleSlope: 1}
	data := []byte{0x00, 0x08, 0xFF, 0x07, 0xFF, 0xFF} // 0x800, 0x7FF, 0xFFFF (= -1 in 12 bits)
	r, err = Decode(sp, syntaxExplicitLE, data, testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Values; got[0] != -2048 || got[1] != 2047 || got[2] != -1 {
		t.Errorf("12-bit signed values %v, want [-2048 2047 -1]", got)
	}
}

func TestMultiFrame(t *testing.T) {
	f := loadSource(t, "5.dcm")
	p, err := ParamsFrom(f.ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.frames) != 2 {
		t.Fatalf("5.dcm has %d frames, want 2", len(f.frames))
	}
	for i, fr := range f.frames {
		img, w, err := Frame(p, f.syntax, fr, Options{})
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if img.Bounds().Dx() != 512 || w.Width < 1 {
			t.Errorf("frame %d: %v window %v", i+1, img.Bounds(), w)
		}
	}
}

// TestPETIsNotBlack: the real PET files drawn with the default window show
// the body: far more of the pixels with activity are visibly above black
// than under the files' own windows (which draw nearly all of them black).
func TestPETIsNotBlack(t *testing.T) {
	for _, name := range []string{"1.dcm", "2.dcm"} {
		f := loadSource(t, name)
		p, err := ParamsFrom(f.ds)
		if err != nil {
			t.Fatal(err)
		}
		e := newGrayExpect(f, 0, 0)
		visible := func(win *Window) (shown, active int, used Window) {
			img, used, err := Frame(p, f.syntax, f.frames[0], Options{Window: win})
			if err != nil {
				t.Fatal(err)
			}
			g := img.(*image.Gray)
			for y := range p.Rows {
				for x := range p.Columns {
					if e.value(f.frames[0], x, y) <= 0 {
						continue
					}
					active++
					if g.GrayAt(x, y).Y >= 8 {
						shown++
					}
				}
			}
			return shown, active, used
		}
		shown, active, used := visible(nil)
		fileShown, _, _ := visible(&p.Windows[0])
		if active == 0 || shown*5 < active || shown < 4*fileShown {
			t.Errorf("%s: window %v shows %d of %d pixels with activity above black (the file's window %v: %d)",
				name, used, shown, active, p.Windows[0], fileShown)
		}
		t.Logf("%s: window %v shows %d of %d active pixels; the file's window %v showed %d", name, used, shown, active, p.Windows[0], fileShown)
	}
}
