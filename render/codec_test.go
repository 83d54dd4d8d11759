package render

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	cjpeg "github.com/imgcloud/gateway/codec/jpeg"
	"github.com/imgcloud/gateway/codec/rle"
)

// packBits is an independent PackBits encoder (PS3.5 G.3.1) for building
// RLE test frames: runs of two or more equal bytes are replicate runs,
// everything else literal runs, at most 128 bytes each.
func packBits(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		j := i + 1
		for j < len(b) && j-i < 128 && b[j] == b[i] {
			j++
		}
		if j-i >= 2 {
			out = append(out, byte(int8(1-(j-i))), b[i])
			i = j
			continue
		}
		j = i
		for j < len(b) && j-i < 128 && !(j+1 < len(b) && b[j] == b[j+1]) {
			j++
		}
		j = max(j, i+1)
		out = append(out, byte(j-i-1))
		out = append(out, b[i:j]...)
		i = j
	}
	if len(out)%2 == 1 {
		out = append(out, 0x80) // segments have even length; -128 is a no-op
	}
	return out
}

// rleFrame builds an RLE frame: the 64-byte header then the segments.
func rleFrame(segs ...[]byte) []byte {
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(segs)))
	off := 64
	var body []byte
	for i, s := range segs {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(off))
		enc := packBits(s)
		body = append(body, enc...)
		off += len(enc)
	}
	return append(hdr, body...)
}

// Compressed syntaxes these tests decode.
const (
	syntaxJPEGBase = codec.JPEGBaseline
	syntaxRLE      = codec.RLELossless
)

// testCodecs is the set the gateway builds without cgo codecs: RLE and
// the standard library's 8-bit JPEG.
func testCodecs() *codec.Set {
	s := codec.NewSet()
	s.AddDecoder(rle.Decoder{}, codec.RLELossless)
	s.AddDecoder(cjpeg.Decoder{}, codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1)
	return s
}

func TestRLE16Signed(t *testing.T) {
	const w, h = 13, 7
	r := rand.New(rand.NewPCG(1, 2))
	native := make([]byte, 2*w*h)
	hi, lo := make([]byte, w*h), make([]byte, w*h)
	for i := range w * h {
		v := int16(r.IntN(4000) - 2000)
		if i%5 < 3 {
			v = -1024 // runs, as in air around a body
		}
		binary.LittleEndian.PutUint16(native[2*i:], uint16(v))
		hi[i], lo[i] = byte(uint16(v)>>8), byte(v)
	}
	p := &Params{Rows: h, Columns: w, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, PixelRepresentation: 1,
		Photometric: PhotometricMonochrome2, RescaleSlope: 1}
	want, err := Decode(p, syntaxExplicitLE, native, testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(p, syntaxRLE, rleFrame(hi, lo), testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Values, want.Values) {
		t.Errorf("RLE values differ from native ones:\n got %v\nwant %v", got.Values[:20], want.Values[:20])
	}
	if slices.Min(got.Values) >= 0 {
		t.Error("no negative value survived")
	}
	if _, err := Decode(p, syntaxRLE, rleFrame(hi), testCodecs()); err == nil || !strings.Contains(err.Error(), "1 segments") {
		t.Errorf("one segment for 16-bit data: err = %v", err)
	}
	bad := rleFrame(hi, lo)
	binary.LittleEndian.PutUint32(bad[8:], uint32(len(bad)+10))
	if _, err := Decode(p, syntaxRLE, bad, testCodecs()); err == nil {
		t.Error("a segment offset past the frame decoded without error")
	}
}

func TestRLERGB(t *testing.T) {
	const w, h = 9, 4
	planes := [3][]byte{make([]byte, w*h), make([]byte, w*h), make([]byte, w*h)}
	native := make([]byte, 3*w*h) // colour-by-pixel
	for i := range w * h {
		for s := range 3 {
			v := byte(i*7 + s*80)
			planes[s][i], native[3*i+s] = v, v
		}
	}
	p := &Params{Rows: h, Columns: w, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricRGB, RescaleSlope: 1}
	got, err := Decode(p, syntaxRLE, rleFrame(planes[0], planes[1], planes[2]), testCodecs())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Decode(p, syntaxExplicitLE, native, testCodecs())
	if !slices.Equal(got.Values, want.Values) {
		t.Error("RLE RGB differs from native RGB")
	}
}

func TestJPEGBaseline(t *testing.T) {
	t.Run("gray", func(t *testing.T) {
		src := image.NewGray(image.Rect(0, 0, 64, 48))
		for y := range 48 {
			for x := range 64 {
				src.SetGray(x, y, color.Gray{Y: uint8(x*3 + y)})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		p := &Params{Rows: 48, Columns: 64, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricMonochrome2, RescaleSlope: 1}
		// An odd-length JPEG is padded to even length in its fragment.
		img, _, err := Frame(p, syntaxJPEGBase, append(buf.Bytes(), 0), Options{Codecs: testCodecs()})
		if err != nil {
			t.Fatal(err)
		}
		g := img.(*image.Gray)
		for i, v := range src.Pix {
			if d := int(g.Pix[i]) - int(v); d < -3 || d > 3 {
				t.Fatalf("pixel %d = %d, encoded %d", i, g.Pix[i], v)
			}
		}
	})
	t.Run("colour", func(t *testing.T) {
		src := image.NewRGBA(image.Rect(0, 0, 32, 16))
		for y := range 16 {
			for x := range 32 {
				src.Set(x, y, color.RGBA{R: uint8(x * 8), G: uint8(y * 16), B: 128, A: 255})
			}
		}
		var buf bytes.Buffer
		jpeg.Encode(&buf, src, &jpeg.Options{Quality: 100})
		p := &Params{Rows: 16, Columns: 32, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricYBRFull422, RescaleSlope: 1}
		img, _, err := Frame(p, syntaxJPEGBase, buf.Bytes(), Options{Codecs: testCodecs()})
		if err != nil {
			t.Fatal(err)
		}
		got := img.(*image.RGBA)
		for i := range src.Pix {
			if d := int(got.Pix[i]) - int(src.Pix[i]); d < -12 || d > 12 {
				t.Fatalf("byte %d = %d, encoded %d", i, got.Pix[i], src.Pix[i])
			}
		}
	})
	t.Run("size mismatch", func(t *testing.T) {
		var buf bytes.Buffer
		jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
		p := &Params{Rows: 9, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: PhotometricMonochrome2, RescaleSlope: 1}
		if _, err := Decode(p, syntaxJPEGBase, buf.Bytes(), testCodecs()); err == nil {
			t.Error("an 8x8 JPEG for a 8x9 image decoded without error")
		}
	})
}

func TestUnsupportedSyntax(t *testing.T) {
	p := &Params{Rows: 2, Columns: 2, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 16, Photometric: PhotometricMonochrome2, RescaleSlope: 1}
	for _, ts := range []string{"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80"} {
		_, err := Decode(p, ts, []byte{0xFF, 0x4F}, testCodecs())
		if _, ok := testCodecs().Decoder(ts); ok {
			continue // this set decodes it
		}
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.TransferSyntax != ts {
			t.Fatalf("%s: err = %v, want an *UnsupportedError naming it", ts, err)
		}
		if !strings.Contains(err.Error(), ts) || !strings.Contains(err.Error(), SyntaxName(ts)) {
			t.Errorf("message %q does not name %s", err, ts)
		}
	}
	p.BitsAllocated = 32
	var ue *UnsupportedError
	if _, err := Decode(p, syntaxExplicitLE, make([]byte, 16), testCodecs()); !errors.As(err, &ue) {
		t.Errorf("BitsAllocated 32: err = %v", err)
	}
}
