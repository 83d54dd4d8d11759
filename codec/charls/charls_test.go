//go:build cgocodecs && cgo

package charls

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// TestDecodeFiles decodes every JPEG-LS file GDCM and DCMTK made, in every
// interleave mode: lossless ones give the original's bytes, near-lossless
// ones stay within one of DCMTK's dcmdjpls and within NEAR of the
// original.
func TestDecodeFiles(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range codectest.Files(t, Syntaxes...) {
		seen[file.Syntax] = true
		t.Run(file.Name, func(t *testing.T) {
			f, frames := codectest.Frames(t, file.Path)
			_, want := codectest.Frames(t, file.Source)
			var ref [][]byte
			if file.Lossy {
				ref = codectest.Reference(t, file)
			}
			for i, src := range frames {
				img, err := Decoder{}.Decode(src, f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !file.Lossy {
					if !bytes.Equal(img.Pixels, want[i]) {
						d, _ := codectest.Compare(img.Pixels, want[i], f)
						t.Errorf("frame %d: decoded bytes differ from the original's (by up to %d)", i, d)
					}
					continue
				}
				if d, _ := codectest.Compare(img.Pixels, ref[i], f); d > 1 {
					t.Errorf("frame %d: a sample differs from dcmdjpls's by %d", i, d)
				}
				d, psnr := codectest.Compare(img.Pixels, want[i], f)
				if near := nearOf(t, src); d > near {
					t.Errorf("frame %d: a sample differs from the original by %d, more than NEAR %d", i, d, near)
				}
				t.Logf("frame %d: PSNR %.1f dB against the original", i, psnr)
			}
		})
	}
	for _, ts := range Syntaxes {
		if !seen[ts] {
			t.Errorf("no test file of %s", ts)
		}
	}
}

// sos returns the offset of the first scan header's NEAR byte.
func nearAt(t *testing.T, src []byte) int {
	t.Helper()
	p := bytes.Index(src, []byte{0xff, 0xda})
	if p < 0 || p+5 > len(src) {
		t.Fatal("no SOS marker")
	}
	ns := int(src[p+4])
	return p + 5 + 2*ns
}

func nearOf(t *testing.T, src []byte) int { return int(src[nearAt(t, src)]) }

// TestEncodeRoundTrip encodes every original and decodes it back to the
// same bytes.
func TestEncodeRoundTrip(t *testing.T) {
	done := map[string]bool{}
	for _, file := range codectest.Files(t, codec.JPEGLSLossless) {
		if done[file.Source] {
			continue
		}
		done[file.Source] = true
		t.Run(file.Name, func(t *testing.T) {
			f, frames := codectest.Frames(t, file.Source)
			for i, px := range frames {
				cs, err := Encoder{}.Encode(px, f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				img, err := Decoder{}.Decode(cs, f)
				if err != nil {
					t.Fatalf("frame %d: decode: %v", i, err)
				}
				if !bytes.Equal(img.Pixels, px) {
					t.Errorf("frame %d: round trip differs", i)
				}
				t.Logf("frame %d: %d bytes native, %d encoded (%.2fx)", i, len(px), len(cs), float64(len(px))/float64(len(cs)))
			}
		})
	}
}

// TestHostile: each bad input is an error wrapping ErrInvalid, with a
// reason, never a panic.
func TestHostile(t *testing.T) {
	var file codectest.File
	for _, f := range codectest.Files(t, codec.JPEGLSLossless) {
		if strings.HasPrefix(f.Name, "3.dcm dcmcjpls") {
			file = f
		}
	}
	f, frames := codectest.Frames(t, file.Path)
	cs := frames[0]
	sof := bytes.Index(cs, []byte{0xff, 0xf7})
	if sof < 0 {
		t.Fatal("no SOF55 marker")
	}
	near := nearAt(t, cs)
	patch := func(at int, b ...byte) []byte {
		out := bytes.Clone(cs)
		copy(out[at:], b)
		return out
	}
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	// SOF55: marker, length, P at 4, Y at 5, X at 7, Nf at 9.
	cases := []struct {
		name string
		src  []byte
		f    codec.Frame
		want string
	}{
		{"empty", nil, f, "SOI"},
		{"not JPEG-LS", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n"), f, "SOI"},
		{"truncated in the header", cs[:sof+6], f, "CharLS"},
		{"truncated in the scan", cs[:len(cs)/2], f, "CharLS"},
		{"rows beyond the frame", patch(sof+5, be16(uint16(2*f.Rows))...), f, "the stream is"},
		{"columns beyond the frame", patch(sof+7, be16(uint16(2*f.Columns))...), f, "the stream is"},
		{"three components for one sample", cs, codec.Frame{Rows: f.Rows, Columns: f.Columns, Samples: 3, BitsAllocated: 16, BitsStored: 12}, "components"},
		{"precision beyond the allocated bits", cs, codec.Frame{Rows: f.Rows, Columns: f.Columns, Samples: 1, BitsAllocated: 8, BitsStored: 8}, "bits per sample"},
		{"NEAR out of range", patch(near, 255), f, "CharLS"},
		{"NEAR beyond MAXVAL/2", patch(near, 200), codec.Frame{Rows: f.Rows, Columns: f.Columns, Samples: 1, BitsAllocated: 16, BitsStored: 12}, "CharLS"},
		{"unknown interleave mode", patch(near+1, 7), f, "CharLS"},
		{"zero rows", patch(sof+5, 0, 0), f, "CharLS"},
	}
	var hostile []codectest.Hostile
	for _, c := range cases {
		hostile = append(hostile, codectest.Hostile{Name: c.name, Src: c.src, F: c.f, Want: c.want})
	}
	codectest.RefuseAll(t, Decoder{}, hostile)
}

// FuzzDecode: whatever the bytes and the frame, an error or an image of
// the frame's size, never a panic. The size mostly comes from the
// stream's SOF55.
func FuzzDecode(f *testing.F) {
	codectest.FuzzDecoder(f, Decoder{}, func(src []byte) (int, int, bool) {
		p := bytes.Index(src, []byte{0xff, 0xf7})
		if p < 0 || p+10 > len(src) {
			return 0, 0, false
		}
		return int(binary.BigEndian.Uint16(src[p+5:])), int(binary.BigEndian.Uint16(src[p+7:])), true
	}, Syntaxes...)
}
