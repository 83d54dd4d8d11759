package jpeg

import (
	"bytes"
	"fmt"
	"testing"
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
	} {
		files[im.name] = im.write(t)
	}
	return files
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
			if name == "5.dcm" && m.name != "sv1" && m.name != "gdcm" && m.name != "p14-sv6" {
				continue // two 512×512 frames: enough with two modes
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
