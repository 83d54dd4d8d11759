package jpeg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// losslessImages are the inputs of the lossless tests: the real files and
// synthesised images at the depths, signedness and sample counts DICOM
// uses (odd sizes, so that no line is a round number).
func losslessImages(t *testing.T) map[string]string {
	files := map[string]string{}
	for _, name := range []string{"1.dcm", "3.dcm", "5.dcm", "6.dcm"} {
		files[name] = sourceFile(t, name)
	}
	for _, im := range []image{
		synth("u8", 41, 67, 1, 8, 8, false),
		synth("u12", 33, 29, 1, 16, 12, false),
		synth("s12", 33, 29, 1, 16, 12, true),
		synth("u16", 37, 31, 1, 16, 16, false),
		synth("s16", 37, 31, 1, 16, 16, true),
		synth("rgb8", 23, 45, 3, 8, 8, false),
		synth("u2", 17, 19, 1, 8, 2, false),
		garbage(synth("s12-high-bits-set", 33, 29, 1, 16, 12, true)),
	} {
		files[im.name] = im.write(t)
	}
	return files
}

// garbage sets bits above BitsStored in some samples, as modalities that
// keep overlays or flags there do: a lossless stream of 16 bits keeps
// them, so decoding must too (not sign-extend over them).
func garbage(im image) image {
	for i := 1; i < len(im.pixels); i += 6 {
		im.pixels[i] ^= 0x50
	}
	return im
}

// TestLosslessDCMTK decodes what dcmcjpeg writes for JPEG Lossless SV1
// (+e1) and Process 14 with each selection value (+el +sv 1..7), and
// compares with the original native pixels byte for byte.
func TestLosslessDCMTK(t *testing.T) {
	files := losslessImages(t)
	type mode struct {
		name string
		tool string
		args []string
		sv   int
	}
	// GDCM's IJG-derived encoder writes precision 12 for 12-bit images,
	// where dcmcjpeg writes 16.
	modes := []mode{{"sv1", "dcmcjpeg", []string{"+e1"}, 1}, {"gdcm", "gdcmconv", []string{"--jpeg"}, 1}}
	for sv := 1; sv <= 7; sv++ {
		modes = append(modes, mode{fmt.Sprintf("p14-sv%d", sv), "dcmcjpeg", []string{"+el", "+sv", fmt.Sprint(sv)}, sv})
	}
	for name, path := range files {
		orig, want := frames(t, path)
		for _, m := range modes {
			if strings.HasSuffix(name, ".dcm") && m.name != "sv1" && m.name != "gdcm" && m.name != "p14-sv6" {
				continue // the real files: every predictor is exercised by the synthesised ones
			}
			t.Run(name+"/"+m.name, func(t *testing.T) {
				enc := convert(t, m.tool, path, m.args...)
				f, got := frames(t, enc)
				if f != orig {
					t.Fatalf("%s changed the frame attributes: %+v, was %+v", m.tool, f, orig)
				}
				if len(got) != len(want) {
					t.Fatalf("%d frames, want %d", len(got), len(want))
				}
				h := parseHeader(t, got[0])
				if h.sof != mSOF3 || h.ss != m.sv {
					t.Fatalf("%s wrote SOF %#x with predictor %d, want lossless with %d", m.tool, h.sof, h.ss, m.sv)
				}
				t.Logf("precision %d", h.prec)
				for i := range got {
					img, err := Decoder{}.Decode(got[i], f)
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if !bytes.Equal(img.Pixels, want[i]) {
						t.Fatalf("frame %d differs from the original: %s", i, firstDiff(img.Pixels, want[i], f))
					}
					if img.Photometric != f.Photometric {
						t.Errorf("photometric %q, want %q", img.Photometric, f.Photometric)
					}
				}
			})
		}
	}
}

// TestLosslessPointTransform: with point transform Pt the low Pt bits are
// dropped (T.81 H.1.1); the rest must come back exactly.
func TestLosslessPointTransform(t *testing.T) {
	for _, im := range []image{synth("u16", 37, 31, 1, 16, 16, false), synth("u8", 41, 67, 1, 8, 8, false)} {
		for _, pt := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/pt%d", im.name, pt), func(t *testing.T) {
				enc := dcmtk(t, "dcmcjpeg", im.write(t), "+el", "+sv", "7", "+pt", fmt.Sprint(pt))
				f, got := frames(t, enc)
				img, err := Decoder{}.Decode(got[0], f)
				if err != nil {
					t.Fatal(err)
				}
				want := bytes.Clone(im.pixels)
				bps := im.bitsAlloc / 8
				for i := 0; i < len(want); i += bps {
					want[i] &^= byte(1<<pt - 1) // low byte first
				}
				if !bytes.Equal(img.Pixels, want) {
					t.Fatalf("differs from the original without its low %d bits: %s", pt, firstDiff(img.Pixels, want, f))
				}
			})
		}
	}
}

// TestLosslessPrecisions covers precisions 2 to 15, which dcmcjpeg and
// GDCM never write (they write 8 or 16). A Process 14 stream of precision
// P and point transform k codes the same bits as one of precision P-k,
// without point transform, of the samples shifted right by k (T.81 H.1.1:
// prediction and differences work on the shifted samples; only the initial
// prediction 2^(P-k-1) involves P). So the dcmcjpeg streams with +pt k,
// their SOF precision lowered by k and SOS Al set to 0, are real streams
// of precision P-k, whose decoding is the original shifted right by k.
func TestLosslessPrecisions(t *testing.T) {
	for _, im := range []image{synth("u16", 37, 31, 1, 16, 16, false), synth("u8", 41, 67, 1, 8, 8, false),
		synth("s16", 37, 31, 1, 16, 16, true), synth("s8", 41, 67, 1, 8, 8, true)} {
		path := im.write(t)
		for k := 1; k < im.bitsStore-1; k++ {
			if im.signed && k%3 != 1 {
				continue // signed: a few precisions suffice
			}
			p := im.bitsStore - k
			t.Run(fmt.Sprintf("%s/precision%d", im.name, p), func(t *testing.T) {
				_, got := frames(t, dcmtk(t, "dcmcjpeg", path, "+el", "+sv", fmt.Sprint(1+k%7), "+pt", fmt.Sprint(k)))
				src := bytes.Clone(got[0])
				sof := bytes.Index(src, []byte{0xFF, mSOF3})
				sos := bytes.Index(src, []byte{0xFF, mSOS})
				if sof < 0 || sos < 0 || int(src[sof+4]) != im.bitsStore || src[sos+4] != 1 || int(src[sos+9]&15) != k {
					t.Fatalf("unexpected dcmcjpeg stream header % x", src[:min(len(src), 64)])
				}
				src[sof+4] = byte(p)
				src[sos+9] = 0 // Ah 0, Al 0
				f := codec.Frame{Rows: im.rows, Columns: im.cols, Samples: 1, BitsAllocated: im.bitsAlloc, BitsStored: p, Signed: im.signed, Photometric: "MONOCHROME2"}
				img, err := Decoder{}.Decode(src, f)
				if err != nil {
					t.Fatal(err)
				}
				// Signed samples of p bits fill their container sign-extended:
				// the original shifted arithmetically.
				want := make([]byte, len(im.pixels))
				for i := 0; i < len(want); i += im.bitsAlloc / 8 {
					switch {
					case im.bitsAlloc == 8 && im.signed:
						want[i] = byte(int8(im.pixels[i]) >> k)
					case im.bitsAlloc == 8:
						want[i] = im.pixels[i] >> k
					case im.signed:
						binary.LittleEndian.PutUint16(want[i:], uint16(int16(binary.LittleEndian.Uint16(im.pixels[i:]))>>k))
					default:
						binary.LittleEndian.PutUint16(want[i:], binary.LittleEndian.Uint16(im.pixels[i:])>>k)
					}
				}
				if !bytes.Equal(img.Pixels, want) {
					t.Fatalf("differs from the original shifted right by %d: %s", k, firstDiff(img.Pixels, want, f))
				}
			})
		}
	}
}

// TestLosslessRestartAndScans covers what neither dcmcjpeg nor GDCM
// writes in lossless mode: restart intervals and non-interleaved scans.
// Their entropy-coded data is still dcmcjpeg's; only markers are added:
//   - an image made of one block of lines repeated n times, coded with a
//     restart interval of one block, is n copies of the block's own coded
//     data separated by RSTm markers (a restart resets the prediction as
//     the start of a scan does, T.81 H.1.2.1 and E.2.4);
//   - a colour image coded in three non-interleaved scans is the three
//     grey images of its components, each coded on its own, in one frame.
func TestLosslessRestartAndScans(t *testing.T) {
	for _, sv := range []int{1, 4, 7} {
		for _, block := range []image{synth("u16", 5, 31, 1, 16, 16, false), synth("rgb8", 3, 29, 3, 8, 8, false)} {
			t.Run(fmt.Sprintf("restart/%s/sv%d", block.name, sv), func(t *testing.T) {
				const copies = 11 // more than 8: the RST numbers wrap
				_, fr := frames(t, dcmtk(t, "dcmcjpeg", block.write(t), "+el", "+sv", fmt.Sprint(sv)))
				segs, sos, ecs := split(t, fr[0])
				parts := []any{}
				for _, s := range segs {
					if s.marker == mSOF3 {
						s.data = bytes.Clone(s.data)
						binary.BigEndian.PutUint16(s.data[1:], uint16(block.rows*copies))
					}
					parts = append(parts, s)
				}
				ri := block.rows * block.cols
				parts = append(parts, segment{mDRI, []byte{byte(ri >> 8), byte(ri)}}, sos)
				var want []byte
				for i := 0; i < copies; i++ {
					if i > 0 {
						parts = append(parts, []byte{0xFF, byte(mRST0 + (i-1)%8)})
					}
					parts = append(parts, ecs)
					want = append(want, block.pixels...)
				}
				f := codec.Frame{Rows: block.rows * copies, Columns: block.cols, Samples: block.spp,
					BitsAllocated: block.bitsAlloc, BitsStored: block.bitsStore, Photometric: block.photometric}
				img, err := Decoder{}.Decode(join(parts...), f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(img.Pixels, want) {
					t.Fatalf("differs from the original: %s", firstDiff(img.Pixels, want, f))
				}
			})
		}
		t.Run(fmt.Sprintf("non-interleaved/sv%d", sv), func(t *testing.T) {
			rgb := synth("rgb8", 23, 45, 3, 8, 8, false)
			var sof segment
			parts := []any{}
			for c := 0; c < 3; c++ {
				plane := synth("plane", rgb.rows, rgb.cols, 1, 8, 8, false)
				for i := range plane.pixels {
					plane.pixels[i] = rgb.pixels[3*i+c]
				}
				_, fr := frames(t, dcmtk(t, "dcmcjpeg", plane.write(t), "+el", "+sv", fmt.Sprint(sv)))
				segs, sos, ecs := split(t, fr[0])
				for _, s := range segs {
					switch s.marker {
					case mSOF3:
						// One frame of three components, ids 1-3.
						sof = segment{mSOF3, append(bytes.Clone(s.data[:5]), 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0)}
					case mDHT:
						d := bytes.Clone(s.data)
						d[0] = byte(c) // table class 0 (DC), id c
						parts = append(parts, segment{mDHT, d})
					}
				}
				d := bytes.Clone(sos.data)
				d[1], d[2] = byte(c+1), byte(c<<4)
				parts = append(parts, segment{mSOS, d}, ecs)
			}
			f := codec.Frame{Rows: rgb.rows, Columns: rgb.cols, Samples: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "RGB"}
			img, err := Decoder{}.Decode(join(append([]any{sof}, parts...)...), f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img.Pixels, rgb.pixels) {
				t.Fatalf("differs from the original: %s", firstDiff(img.Pixels, rgb.pixels, f))
			}
		})
	}
}
