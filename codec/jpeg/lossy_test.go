package jpeg

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

// lossyCase is one lossy codestream source: a file and how to compress it.
type lossyCase struct {
	name string
	// orig is the native file compressed; encode compresses it.
	orig   string
	encode func(t *testing.T, orig string) string
	// sof and sampling are what the codestream must use, so that the
	// case tests what it says.
	sof      int
	sampling []int
	ri       bool
	scans    int // 0 for 1
}

func dcmcjpeg(args ...string) func(*testing.T, string) string {
	return func(t *testing.T, orig string) string { return dcmtk(t, "dcmcjpeg", orig, args...) }
}

// cjpeg compresses the image with libjpeg-turbo's cjpeg (from a PNM file
// of the native pixels) and wraps the JPEG file with DCMTK's img2dcm.
func cjpeg(im image, args ...string) func(*testing.T, string) string {
	return func(t *testing.T, _ string) string {
		jpg := filepath.Join(t.TempDir(), "out.jpg")
		if err := os.WriteFile(jpg, cjpegFile(t, im, args...), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.dcm")
		dcmtktest.Run(t, "img2dcm", "-q", "-i", "JPEG", jpg, out)
		return out
	}
}

// cjpegFile returns cjpeg's JPEG file of the image's 8-bit pixels. An
// argument "script:..." is written to a file whose name replaces it (for
// -scans).
func cjpegFile(t testing.TB, im image, args ...string) []byte {
	t.Helper()
	args = slices.Clone(args)
	dir := t.TempDir()
	magic := "P5"
	if im.spp == 3 {
		magic = "P6"
	}
	pnm := append([]byte(fmt.Sprintf("%s\n%d %d\n255\n", magic, im.cols, im.rows)), im.pixels...)
	in, jpg := filepath.Join(dir, "in.pnm"), filepath.Join(dir, "out.jpg")
	if err := os.WriteFile(in, pnm, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if script, ok := strings.CutPrefix(a, "script:"); ok {
			args[i] = filepath.Join(dir, "scans.txt")
			if err := os.WriteFile(args[i], []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(tool(t, "cjpeg"), append(args, "-outfile", jpg, in)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cjpeg %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(jpg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLossyDCMDJPEG decodes baseline and extended JPEG written by
// dcmcjpeg and cjpeg and compares with dcmdjpeg's decoding of the same
// file, which must agree to ±1 per sample; the PSNR against the original
// is logged where the encoder kept its bit depth.
func TestLossyDCMDJPEG(t *testing.T) {
	rgb := synth("rgb8", 45, 67, 3, 8, 8, false)
	rgbOdd := synth("rgb8odd", 37, 53, 3, 8, 8, false)
	gray := synth("u8", 41, 67, 1, 8, 8, false)
	u12 := synth("u12", 47, 35, 1, 16, 12, false)
	rgbFile, rgbOddFile, grayFile, u12File := rgb.write(t), rgbOdd.write(t), gray.write(t), u12.write(t)
	// Planes one or two samples wide, which IJG upsamples by replication.
	tiny, narrow := synth("rgb-tiny", 1, 1, 3, 8, 8, false), synth("rgb-narrow", 5, 3, 3, 8, 8, false)
	mr, ct8 := sourceFile(t, "3.dcm"), sourceFile(t, "6.dcm")
	cases := []lossyCase{
		{name: "baseline/6.dcm", orig: ct8, encode: dcmcjpeg("+eb"), sof: mSOF0, sampling: []int{0x11}},
		{name: "baseline/u8", orig: grayFile, encode: dcmcjpeg("+eb", "+q", "75"), sof: mSOF0, sampling: []int{0x11}},
		{name: "baseline/3.dcm-to-8-bit", orig: mr, encode: dcmcjpeg("+eb"), sof: mSOF0, sampling: []int{0x11}},
		{name: "baseline/rgb-422", orig: rgbFile, encode: dcmcjpeg("+eb"), sof: mSOF0, sampling: []int{0x21, 0x11, 0x11}},
		{name: "baseline/rgb-422-odd", orig: rgbOddFile, encode: dcmcjpeg("+eb"), sof: mSOF0, sampling: []int{0x21, 0x11, 0x11}},
		{name: "baseline/rgb-444", orig: rgbFile, encode: dcmcjpeg("+eb", "+s4"), sof: mSOF0, sampling: []int{0x11, 0x11, 0x11}},
		// DCMTK's "4:1:1" (+n1) is 2×2 subsampling, 4:2:0 in JPEG terms.
		{name: "baseline/rgb-420", orig: rgbOddFile, encode: dcmcjpeg("+eb", "+n1"), sof: mSOF0, sampling: []int{0x22, 0x11, 0x11}},
		{name: "baseline/rgb-422-1x1", orig: tiny.write(t), encode: dcmcjpeg("+eb"), sof: mSOF0, sampling: []int{0x21, 0x11, 0x11}},
		{name: "baseline/rgb-420-3x5", orig: narrow.write(t), encode: dcmcjpeg("+eb", "+n1"), sof: mSOF0, sampling: []int{0x22, 0x11, 0x11}},
		{name: "extended/3.dcm", orig: mr, encode: dcmcjpeg("+ee"), sof: mSOF1, sampling: []int{0x11}},
		{name: "extended/u12", orig: u12File, encode: dcmcjpeg("+ee", "+q", "80"), sof: mSOF1, sampling: []int{0x11}},
		{name: "extended/rgb-422", orig: rgbOddFile, encode: dcmcjpeg("+ee"), sof: mSOF1, sampling: []int{0x21, 0x11, 0x11}},
		{name: "cjpeg/rgb-420-restart", orig: rgbOddFile, encode: cjpeg(rgbOdd, "-restart", "1"), sof: mSOF0, sampling: []int{0x22, 0x11, 0x11}, ri: true},
		{name: "cjpeg/rgb-420-restart-3-blocks", orig: rgbFile, encode: cjpeg(rgb, "-restart", "3B", "-optimize"), sof: mSOF0, sampling: []int{0x22, 0x11, 0x11}, ri: true},
		{name: "cjpeg/rgb-440-restart", orig: rgbOddFile, encode: cjpeg(rgbOdd, "-sample", "1x2", "-restart", "2B"), sof: mSOF0, sampling: []int{0x12, 0x11, 0x11}, ri: true},
		{name: "cjpeg/rgb-411", orig: rgbOddFile, encode: cjpeg(rgbOdd, "-sample", "4x1"), sof: mSOF0, sampling: []int{0x41, 0x11, 0x11}},
		// Non-interleaved scans: a subsampled component alone in a scan
		// codes its blocks in raster order, not by MCU (T.81 A.2.2).
		{name: "cjpeg/rgb-420-scans", orig: rgbOddFile, encode: cjpeg(rgbOdd, "-scans", "script:0;\n1 2;\n"), sof: mSOF0, sampling: []int{0x22, 0x11, 0x11}, scans: 2},
		{name: "cjpeg/rgb-422-3-scans-restart", orig: rgbOddFile, encode: cjpeg(rgbOdd, "-sample", "2x1", "-scans", "script:2;\n0;\n1;\n", "-restart", "5B"), sof: mSOF0, sampling: []int{0x21, 0x11, 0x11}, ri: true, scans: 3},
		{name: "cjpeg/gray-restart", orig: grayFile, encode: cjpeg(gray, "-grayscale", "-restart", "1"), sof: mSOF0, sampling: []int{0x11}, ri: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := c.encode(t, c.orig)
			f, got := frames(t, enc)
			h := parseHeader(t, got[0])
			if h.sof != c.sof || fmt.Sprint(h.sampling) != fmt.Sprint(c.sampling) || (h.ri > 0) != c.ri || h.scans != max(1, c.scans) {
				t.Fatalf("codestream has SOF %#x, sampling %x, restart interval %d, %d scans; the case wants %#x, %x, restart %v, %d scans",
					h.sof, h.sampling, h.ri, h.scans, c.sof, c.sampling, c.ri, max(1, c.scans))
			}
			rf, ref := frames(t, dcmtk(t, "dcmdjpeg", enc))
			of, orig := frames(t, c.orig)
			for i := range got {
				img, err := Decoder{}.Decode(got[i], f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if img.Photometric != rf.Photometric {
					t.Errorf("photometric %q, dcmdjpeg %q", img.Photometric, rf.Photometric)
				}
				if len(img.Pixels) != len(ref[i]) {
					t.Fatalf("%d bytes, dcmdjpeg %d", len(img.Pixels), len(ref[i]))
				}
				d, _ := diff(img.Pixels, ref[i], f.BitsAllocated/8, h.prec)
				if d > 1 {
					t.Errorf("frame %d: a sample differs from dcmdjpeg's by %d (%s)", i, d, firstDiff(img.Pixels, ref[i], f))
				}
				if of.BitsStored == h.prec && of.BitsAllocated == f.BitsAllocated && (of.Photometric == img.Photometric) {
					_, p := diff(img.Pixels, orig[i], f.BitsAllocated/8, h.prec)
					t.Logf("%s: %d-bit, max difference from dcmdjpeg %d, PSNR against the original %.1f dB", f.Photometric, h.prec, d, p)
				} else {
					t.Logf("%s: %d-bit, max difference from dcmdjpeg %d (the encoder rescaled the original)", f.Photometric, h.prec, d)
				}
			}
		})
	}
}
