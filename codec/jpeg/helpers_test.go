package jpeg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

// The test files are made by third-party encoders from the real files of
// github.com/suyashkumar/dicom's testdata and from images written with
// DCMTK's dump2dcm: DCMTK's dcmcjpeg for every process, libjpeg-turbo's
// cjpeg (wrapped by DCMTK's img2dcm) for 4:2:0 and restart intervals.
// dcmdjpeg is the reference for lossy decoding.

// sourceFile returns the real file name of suyashkumar/dicom's testdata,
// converted by dcmconv to explicit VR little endian (the deflated and
// implicit files too), so that every tool reads it.
func sourceFile(t testing.TB, name string) string {
	t.Helper()
	dir, err := corpus.SourceDir()
	if err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), name)
	dcmtktest.Run(t, "dcmconv", "-q", "+te", filepath.Join(dir, name), out)
	return out
}

// frames reads a file's frame attributes and frames (fragments of a frame
// concatenated).
func frames(t testing.TB, path string) (codec.Frame, [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	ds := h.Dataset
	get := func(tag string) int {
		v, ok := ds.Int(tag)
		if !ok {
			t.Fatalf("%s has no %s", path, tag)
		}
		return v
	}
	spp, ok := ds.Int("00280002")
	if !ok {
		spp = 1
	}
	pr, _ := ds.Int("00280103")
	f := codec.Frame{
		Rows: get("00280010"), Columns: get("00280011"), Samples: spp,
		BitsAllocated: get("00280100"), BitsStored: get("00280101"),
		Signed: pr == 1, Photometric: strings.TrimSpace(ds.String("00280004")),
	}
	var out [][]byte
	for _, rs := range h.Frames.Frames {
		var fr []byte
		for _, r := range rs {
			fr = append(fr, b[r.Offset:r.Offset+r.Length]...)
		}
		out = append(out, fr)
	}
	return f, out
}

// dcmtk runs a DCMTK converter (dcmcjpeg, dcmdjpeg, ...) on in with args
// and returns the output file.
func dcmtk(t testing.TB, tool, in string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), tool+".dcm")
	dcmtktest.Run(t, tool, append(append([]string{"-q"}, args...), in, out)...)
	return out
}

// convert runs DCMTK's converters or GDCM's gdcmconv on in.
func convert(t testing.TB, name, in string, args ...string) string {
	t.Helper()
	if name != "gdcmconv" {
		return dcmtk(t, name, in, args...)
	}
	out := filepath.Join(t.TempDir(), "gdcmconv.dcm")
	cmd := exec.Command(tool(t, "gdcmconv"), append(append([]string{}, args...), in, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gdcmconv %v: %v\n%s", args, err, b)
	}
	return out
}

// tool returns the path of a non-DCMTK program, skipping (failing under
// CI) without it.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " is not installed (run scripts/dcmtk.sh): this reference test was SKIPPED"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// image is a synthesised native image written with dump2dcm.
type image struct {
	name                 string
	rows, cols, spp      int
	bitsAlloc, bitsStore int
	signed               bool
	photometric          string
	sopClass             string
	frames               int    // 0 for 1
	pixels               []byte // every frame
}

// synth makes an image of smooth gradients with noise (what an encoder
// meets in real images: neither flat nor random), in full range of
// bitsStored, two's complement when signed.
func synth(name string, rows, cols, spp, bitsAlloc, bitsStored int, signed bool) image {
	im := image{name: name, rows: rows, cols: cols, spp: spp, bitsAlloc: bitsAlloc, bitsStore: bitsStored, signed: signed,
		photometric: "MONOCHROME2", sopClass: "SecondaryCaptureImageStorage"}
	if spp == 3 {
		im.photometric = "RGB"
	}
	maxv := 1<<bitsStored - 1
	seed := uint32(len(name)*7919 + rows*31 + cols)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			for c := 0; c < spp; c++ {
				seed = seed*1664525 + 1013904223
				noise := float64(seed>>24)/255 - 0.5
				fx, fy := float64(x)/float64(cols), float64(y)/float64(rows)
				v := 0.5 + 0.35*math.Sin(6*fx+2*float64(c))*math.Cos(4*fy) + 0.1*noise
				s := int(math.Round(v * float64(maxv)))
				s = max(0, min(s, maxv))
				if signed {
					s -= 1 << (bitsStored - 1)
					if s < 0 {
						s += 1 << bitsAlloc // two's complement in the container
					}
				}
				if bitsAlloc == 8 {
					im.pixels = append(im.pixels, byte(s))
				} else {
					im.pixels = binary.LittleEndian.AppendUint16(im.pixels, uint16(s))
				}
			}
		}
	}
	return im
}

// write writes the image with dump2dcm and returns the file.
func (im image) write(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "pixels.raw")
	if err := os.WriteFile(raw, im.pixels, 0o600); err != nil {
		t.Fatal(err)
	}
	pr, vr := 0, "OW"
	if im.signed {
		pr = 1
	}
	if im.bitsAlloc == 8 {
		vr = "OB"
	}
	lines := []string{
		"(0008,0016) UI =" + im.sopClass,
		"(0008,0018) UI [1.2.826.0.1.3680043.10.1.20.1]",
		"(0008,0060) CS [OT]",
		"(0020,000d) UI [1.2.826.0.1.3680043.10.1.20]",
		"(0020,000e) UI [1.2.826.0.1.3680043.10.1.20.2]",
		fmt.Sprintf("(0028,0002) US %d", im.spp),
		"(0028,0004) CS [" + im.photometric + "]",
		fmt.Sprintf("(0028,0010) US %d", im.rows),
		fmt.Sprintf("(0028,0011) US %d", im.cols),
		fmt.Sprintf("(0028,0100) US %d", im.bitsAlloc),
		fmt.Sprintf("(0028,0101) US %d", im.bitsStore),
		fmt.Sprintf("(0028,0102) US %d", im.bitsStore-1),
		fmt.Sprintf("(0028,0103) US %d", pr),
	}
	if im.spp == 3 {
		lines = append(lines, "(0028,0006) US 0")
	}
	if im.frames > 1 {
		lines = append(lines, fmt.Sprintf("(0028,0008) IS [%d]", im.frames))
	}
	lines = append(lines, fmt.Sprintf("(7fe0,0010) %s =%s", vr, raw))
	dump := filepath.Join(dir, "image.dump")
	if err := os.WriteFile(dump, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, im.name+".dcm")
	dcmtktest.Run(t, "dump2dcm", "-q", "+te", dump, out)
	return out
}

// diff compares two native frames sample by sample: the largest absolute
// difference and the PSNR of got against want over the range of bits.
func diff(got, want []byte, bps, bits int) (maxd int, psnr float64) {
	n := len(want) / bps
	var se float64
	for i := 0; i < n; i++ {
		var g, w int
		if bps == 1 {
			g, w = int(got[i]), int(want[i])
		} else {
			g, w = int(binary.LittleEndian.Uint16(got[2*i:])), int(binary.LittleEndian.Uint16(want[2*i:]))
		}
		d := g - w
		if d < 0 {
			d = -d
		}
		maxd = max(maxd, d)
		se += float64(d * d)
	}
	if se == 0 {
		return 0, math.Inf(1)
	}
	peak := float64(int(1)<<bits - 1)
	return maxd, 10 * math.Log10(peak*peak/(se/float64(n)))
}

// firstDiff describes the first differing sample, for failure messages.
func firstDiff(got, want []byte, f codec.Frame) string {
	bps := f.BitsAllocated / 8
	for i := 0; i+bps <= len(want) && i+bps <= len(got); i += bps {
		if !bytes.Equal(got[i:i+bps], want[i:i+bps]) {
			s := i / bps
			px := s / f.Samples
			return fmt.Sprintf("sample %d of pixel (%d,%d): got % x, want % x", s%f.Samples, px%f.Columns, px/f.Columns, got[i:i+bps], want[i:i+bps])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// header is what a test checks of a codestream it did not write: the
// frame marker, precision, sampling factors, first scan's Ss and Al, DRI.
type header struct {
	sof, prec, ss, al, ri int
	sampling              []int // h<<4|v per component
	scans                 int
}

// parseHeader walks the marker segments of a codestream (T.81 B.1.1.4).
func parseHeader(t testing.TB, b []byte) header {
	t.Helper()
	var h header
	for p := 2; p+4 <= len(b); {
		if b[p] != 0xFF {
			p++
			continue
		}
		m := int(b[p+1])
		if m == 0 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) {
			p++
			continue
		}
		if m == 0xD9 {
			break
		}
		n := int(b[p+2])<<8 | int(b[p+3])
		seg := b[p+4 : min(len(b), p+2+n)]
		switch {
		case m >= 0xC0 && m <= 0xC3:
			h.sof, h.prec = m, int(seg[0])
			for i := 0; i < int(seg[5]); i++ {
				h.sampling = append(h.sampling, int(seg[7+3*i]))
			}
		case m == 0xDD:
			h.ri = int(seg[0])<<8 | int(seg[1])
		case m == 0xDA:
			ns := int(seg[0])
			if h.scans == 0 {
				h.ss, h.al = int(seg[1+2*ns]), int(seg[3+2*ns]&15)
			}
			h.scans++
		}
		p += 2 + n
	}
	return h
}

// segment is one marker segment of a codestream: marker and payload.
type segment struct {
	marker byte
	data   []byte
}

// split cuts a one-scan codestream into its marker segments up to SOS
// (SOI and EOI left out), the SOS segment and the entropy-coded data.
func split(t testing.TB, b []byte) (segs []segment, sos segment, ecs []byte) {
	t.Helper()
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			t.Fatalf("no marker at %d", p)
		}
		m, n := b[p+1], int(b[p+2])<<8|int(b[p+3])
		s := segment{m, b[p+4 : p+2+n]}
		p += 2 + n
		if m == mSOS {
			end := bytes.LastIndex(b, []byte{0xFF, mEOI})
			return segs, s, b[p:end]
		}
		segs = append(segs, s)
	}
	t.Fatal("no SOS")
	return
}

// join writes a codestream from segment, []segment and entropy-coded
// []byte parts, in order, between SOI and EOI.
func join(parts ...any) []byte {
	out := []byte{0xFF, mSOI}
	add := func(s segment) {
		out = append(out, 0xFF, s.marker, byte((len(s.data)+2)>>8), byte(len(s.data)+2))
		out = append(out, s.data...)
	}
	for _, p := range parts {
		switch p := p.(type) {
		case segment:
			add(p)
		case []segment:
			for _, s := range p {
				add(s)
			}
		case []byte:
			out = append(out, p...)
		}
	}
	return append(out, 0xFF, mEOI)
}
