package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

func TestWindowFunctions(t *testing.T) {
	tests := []struct {
		w    Window
		x    float64
		want float64
	}{
		{Window{40, 80, Linear}, 0, 0},
		{Window{40, 80, Linear}, 40, (0.5/79 + 0.5) * 255},
		{Window{40, 80, Linear}, 79, 255},
		{Window{40, 80, ""}, -1000, 0},
		{Window{40, 80, LinearExact}, 40, 127.5},
		{Window{40, 80, LinearExact}, 0, 0},
		{Window{40, 80, LinearExact}, 70, 0.875 * 255},
		{Window{40, 80, Sigmoid}, 40, 127.5},
		{Window{40, 80, Sigmoid}, 120, 255 / (1 + math.Exp(-4))},
	}
	for _, tc := range tests {
		if got := tc.w.Apply(tc.x); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%v.Apply(%g) = %g, want %g", tc.w, tc.x, got, tc.want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	good := map[string]Window{
		"40,80":              {40, 80, Linear},
		"-600, 1500":         {-600, 1500, Linear},
		"40,80,linear-exact": {40, 80, LinearExact},
		"40,0.5,SIGMOID":     {40, 0.5, Sigmoid},
		"40.5,80.25,linear":  {40.5, 80.25, Linear},
	}
	for s, want := range good {
		if got, err := ParseWindow(s); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "40", "40,0", "x,1", "1,2,3,4", "40,80,cubic", "40,0.5,linear", "NaN,10", "1,Inf"} {
		if w, err := ParseWindow(s); err == nil {
			t.Errorf("ParseWindow(%q) = %v, want an error", s, w)
		}
	}
}

func TestDefaultWindow(t *testing.T) {
	p := &Params{Rows: 1, Columns: 1002, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, PixelRepresentation: 1,
		Photometric: PhotometricMonochrome2, RescaleSlope: 2, RescaleIntercept: -1000}
	r := &Raster{Width: 1002, Height: 1, Samples: 1}
	for i := range 1000 {
		r.Values = append(r.Values, int32(i))
	}
	r.Values = append(r.Values, 30000, -30000) // two outliers
	w := DefaultWindow(p, r)
	// Stored 0.5th..99.5th percentiles are about 4 and 995: modality -992..990.
	if math.Abs(w.Center-(-1)) > 8 || math.Abs(w.Width-1982) > 16 {
		t.Errorf("window from statistics = %v, want about -1,1982", w)
	}
	p.Windows = []Window{{300, 600, Linear}}
	if got := DefaultWindow(p, r); got != p.Windows[0] {
		t.Errorf("with a file window, DefaultWindow = %v", got)
	}
	// A CT: padding outside the field of view (0), air (24), then tissue.
	var ct []int32
	for i := range 10000 {
		switch {
		case i < 5000:
			ct = append(ct, 0)
		case i < 7000:
			ct = append(ct, 24)
		default:
			ct = append(ct, 1000+int32(i%101))
		}
	}
	p.Windows, p.RescaleSlope, p.RescaleIntercept = nil, 1, 0
	if w := DefaultWindow(p, &Raster{Values: ct}); w.Center-w.Width/2 < 999 || w.Center+w.Width/2 > 1101 {
		t.Errorf("window with background = %v, want one over the tissue values 1000..1100", w)
	}
	p8 := &Params{BitsStored: 8, RescaleSlope: 1}
	w8 := DefaultWindow(p8, r)
	for _, x := range []float64{0, 17, 128, 255} {
		if got := w8.Apply(x); math.Abs(got-x) > 1e-9 {
			t.Errorf("8-bit identity window maps %g to %g", x, got)
		}
	}
}

func TestPhantomRGB(t *testing.T) {
	dir := t.TempDir()
	man, err := corpus.Phantom(dir, corpus.PhantomOptions{Studies: 3, Slices: 2, Seed: 1, Today: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, f := range man.Files {
		if f.Modality != "US" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		rg := h.Frames.Frames[0][0]
		raw := b[rg.Offset : rg.Offset+rg.Length]
		p, err := ParamsFrom(h.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := Frame(p, h.TransferSyntax, raw, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rgba := img.(*image.RGBA)
		for i := range f.Rows * f.Columns {
			if !bytes.Equal(rgba.Pix[4*i:4*i+3], raw[3*i:3*i+3]) {
				t.Fatalf("pixel %d = %v, stored %v", i, rgba.Pix[4*i:4*i+3], raw[3*i:3*i+3])
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("the phantom corpus has no US image")
	}
}

func TestColourLayouts(t *testing.T) {
	rgb := &Params{Rows: 1, Columns: 2, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricRGB, PlanarConfiguration: 1, RescaleSlope: 1}
	// planes: R R G G B B
	img, _, err := Frame(rgb, syntaxExplicitLE, []byte{10, 20, 30, 40, 50, 60}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := img.(*image.RGBA).Pix; !slices.Equal(got, []byte{10, 30, 50, 255, 20, 40, 60, 255}) {
		t.Errorf("planar configuration 1: %v", got)
	}
	ybr := &Params{Rows: 1, Columns: 2, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricYBRFull422, RescaleSlope: 1}
	img, _, err = Frame(ybr, syntaxExplicitLE, []byte{0, 255, 128, 128}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := img.(*image.RGBA).Pix; !slices.Equal(got, []byte{0, 0, 0, 255, 255, 255, 255, 255}) {
		t.Errorf("YBR_FULL_422 neutral chroma: %v", got)
	}
	ybr.Photometric, ybr.Columns = PhotometricYBRFull, 1
	img, _, _ = Frame(ybr, syntaxExplicitLE, []byte{76, 85, 255}, Options{}) // pure red in YCbCr
	if px := img.(*image.RGBA).Pix; px[0] < 250 || px[1] > 5 || px[2] > 5 {
		t.Errorf("YBR_FULL red = %v", px[:3])
	}
	rgb16 := &Params{Rows: 1, Columns: 1, SamplesPerPixel: 3, BitsAllocated: 16, BitsStored: 12, Photometric: PhotometricRGB, RescaleSlope: 1}
	img, _, _ = Frame(rgb16, syntaxExplicitLE, []byte{0xFF, 0x0F, 0x00, 0x08, 0x00, 0x00}, Options{})
	if px := img.(*image.RGBA).Pix; px[0] != 255 || px[1] != 128 || px[2] != 0 {
		t.Errorf("12-bit RGB = %v, want 255 128 0", px[:3])
	}
}

func TestPalette(t *testing.T) {
	ds := dcm.Dataset{
		"00280002": {VR: "US", Value: []any{1.0}},
		"00280004": {VR: "CS", Value: []any{"PALETTE COLOR"}},
		"00280010": {VR: "US", Value: []any{1.0}},
		"00280011": {VR: "US", Value: []any{4.0}},
		"00280100": {VR: "US", Value: []any{8.0}},
		"00280101": {VR: "US", Value: []any{8.0}},
		"00280103": {VR: "US", Value: []any{0.0}},
	}
	for _, tag := range []string{"00281101", "00281102", "00281103"} {
		ds[tag] = &dcm.Element{VR: "US", Value: []any{4.0, 10.0, 16.0}} // 4 entries from value 10
	}
	p, err := ParamsFrom(ds)
	if err != nil {
		t.Fatal(err)
	}
	words := func(v ...uint16) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		return b
	}
	if err := p.SetPalette(words(0, 0x4000, 0x8000, 0xFFFF), words(0xFFFF, 0, 0, 0), words(0, 0, 0x1000, 0x2000)); err != nil {
		t.Fatal(err)
	}
	img, _, err := Frame(p, syntaxExplicitLE, []byte{0, 11, 12, 200}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0, 255, 0, 255, // below the first mapped value: entry 0
		0x40, 0, 0, 255,
		0x80, 0, 0x10, 255,
		0xFF, 0, 0x20, 255, // above the last: the last entry
	}
	if got := img.(*image.RGBA).Pix; !slices.Equal(got, want) {
		t.Errorf("palette picture %v, want %v", got, want)
	}
	if err := p.SetPalette(words(1), words(1), words(1)); err == nil {
		t.Error("one-entry LUT data accepted for a 4-entry descriptor")
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		w, h   int
		vp     Viewport
		ww, wh int
	}{
		{512, 512, Viewport{Width: 128, Height: 128}, 128, 128},
		{1760, 2140, Viewport{Width: 256, Height: 256}, 211, 256},
		{400, 300, Viewport{Width: 128, Height: 128}, 128, 96},
		{64, 32, Viewport{Width: 256, Height: 256}, 256, 128},
		{512, 512, Viewport{}, 512, 512},
		{512, 512, Viewport{Width: 100, Height: 100, Crop: image.Rect(0, 0, 256, 128)}, 100, 50},
	}
	for _, tc := range tests {
		img, err := Fit(image.NewGray(image.Rect(0, 0, tc.w, tc.h)), tc.vp)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != tc.ww || b.Dy() != tc.wh {
			t.Errorf("%dx%d into %+v = %dx%d, want %dx%d", tc.w, tc.h, tc.vp, b.Dx(), b.Dy(), tc.ww, tc.wh)
		}
	}
	// Area averaging: a 2x2 checkerboard of 0 and 255 shrinks to mid-gray.
	g := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range g.Pix {
		if (i%4+i/4)%2 == 0 {
			g.Pix[i] = 255
		}
	}
	small, _ := Fit(g, Viewport{Width: 2, Height: 2})
	for _, v := range small.(*image.Gray).Pix {
		if v < 126 || v > 129 {
			t.Errorf("checkerboard averaged to %d, want about 128", v)
		}
	}
	if _, err := Fit(g, Viewport{Width: 2, Height: 2, Crop: image.Rect(0, 0, 8, 8)}); err == nil {
		t.Error("a region outside the image was accepted")
	}
}

func TestEncode(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 16, 8))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 2)
	}
	var b bytes.Buffer
	if err := Encode(&b, g, MediaPNG, 0); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&b)
	if err != nil || !slices.Equal(back.(*image.Gray).Pix, g.Pix) {
		t.Errorf("PNG round trip differs (%v)", err)
	}
	b.Reset()
	if err := EncodeGIF(&b, []image.Image{g, g, g}, 10); err != nil {
		t.Fatal(err)
	}
	anim, err := gif.DecodeAll(&b)
	if err != nil || len(anim.Image) != 3 {
		t.Fatalf("GIF: %v, %d frames", err, len(anim.Image))
	}
	for i, v := range anim.Image[0].Pix {
		if y, _, _, _ := anim.Image[0].Palette[v].RGBA(); uint8(y>>8) != g.Pix[i] {
			t.Fatalf("GIF gray %d = %d, want %d", i, y>>8, g.Pix[i])
		}
	}
	b.Reset()
	if err := Encode(&b, g, MediaJPEG, 50); err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(&b); err != nil || cfg.Width != 16 {
		t.Errorf("JPEG config %+v, %v", cfg, err)
	}
	if err := Encode(&b, g, "image/webp", 0); err == nil {
		t.Error("image/webp encoded")
	}
}

// TestGIFWriterStreams checks that an animation is written frame by frame
// (each frame's bytes reach the writer when the frame is given, so nothing
// accumulates), that every frame stays within GIFFrameBound, and that the
// result decodes to the frames given, gray and colour, with their delay.
func TestGIFWriterStreams(t *testing.T) {
	const w, h = 64, 48
	var frames []image.Image
	for k := range 5 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i*7 + k*31) // noisy: LZW gains little
		}
		frames = append(frames, g)
	}
	rgb := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i * 13)
	}
	frames = append(frames, rgb)
	var out bytes.Buffer
	gw := NewGIFWriter(&out, 7)
	prev := 0
	for i, img := range frames {
		if err := gw.WriteFrame(img); err != nil {
			t.Fatal(err)
		}
		grew := out.Len() - prev
		if grew < w*h/4 {
			t.Fatalf("frame %d: %d bytes written when it was given; the frame is being held back", i, grew)
		}
		if limit := GIFFrameBound(w, h) + 64; int64(grew) > limit {
			t.Fatalf("frame %d took %d bytes, more than the bound %d", i, grew, limit)
		}
		prev = out.Len()
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	anim, err := gif.DecodeAll(bytes.NewReader(out.Bytes()))
	if err != nil || len(anim.Image) != len(frames) {
		t.Fatalf("decode: %v, %d frames", err, len(anim.Image))
	}
	if anim.Config.Width != w || anim.Config.Height != h || anim.LoopCount != 0 {
		t.Errorf("screen %dx%d loop %d", anim.Config.Width, anim.Config.Height, anim.LoopCount)
	}
	for k, img := range anim.Image[:5] {
		g := frames[k].(*image.Gray)
		for i, v := range img.Pix {
			if y, _, _, _ := img.Palette[v].RGBA(); uint8(y>>8) != g.Pix[i] {
				t.Fatalf("frame %d gray %d = %d, want %d", k, i, y>>8, g.Pix[i])
			}
		}
		if anim.Delay[k] != 7 {
			t.Errorf("frame %d delay %d", k, anim.Delay[k])
		}
	}
	if len(anim.Image[5].Palette) < 100 {
		t.Errorf("colour frame has a %d-colour palette", len(anim.Image[5].Palette))
	}
}
