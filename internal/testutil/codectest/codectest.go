// Package codectest gives tests compressed DICOM files made by third-party
// encoders, never by this project: GDCM's gdcmconv, DCMTK's dcmcjpls,
// dcmcjpeg and dcmcrle, and OpenJPH's ojph_compress (HTJ2K codestreams,
// wrapped into DICOM by DCMTK's dump2dcm). The originals are the real
// files of github.com/suyashkumar/dicom v1.1.0 (from the module cache) and
// small synthesised images (8-bit, 12-bit signed, 16-bit signed
// monochrome; 8-bit RGB) that reach the extremes of their ranges. Not
// every tool takes every image (Files lists what was made): DCMTK's and
// GDCM's lossy JPEG and JPEG-LS modes get unsigned images, OpenJPH's
// lossy HTJ2K too, GDCM's RLE even sizes.
//
// Files are generated on first use, once per test binary, into a
// temporary folder that Main removes. Install the tools with
// scripts/dcmtk.sh and scripts/codecs.sh; without them the tests that ask
// for the files skip with a loud message, and fail when CI=true.
package codectest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

// File is one compressed test file.
type File struct {
	// Name says what it is, "3.dcm gdcmconv --j2k": a subtest name.
	Name string
	// Path is the compressed Part 10 file.
	Path string
	// Syntax is its transfer syntax UID (checked against the file).
	Syntax string
	// Source is the native original (Explicit VR Little Endian) it was
	// made from: for lossless syntaxes, the decoded frames must equal its
	// frames byte for byte.
	Source string
	// Lossy is true when the encoder was allowed to lose information.
	Lossy bool
}

// recipe is one way to compress a source with one tool.
type recipe struct {
	name   string // the command, for File.Name
	syntax string
	lossy  bool
	tools  []string
	fits   func(s *source) bool
	make   func(t testing.TB, s *source, out string)
}

// source is a native original.
type source struct {
	name string
	path string
	f    codec.Frame
}

var (
	mu      sync.Mutex
	dir     string
	sources []*source
	made    = map[string]File{} // by recipe name + source name
)

// Files returns the files of the syntaxes given (every syntax when none
// is), generating them on first use.
func Files(t testing.TB, syntaxes ...string) []File {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var want []recipe
	for _, r := range recipes {
		if len(syntaxes) == 0 || slices.Contains(syntaxes, r.syntax) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		t.Fatalf("codectest: no encoder makes %v", syntaxes)
	}
	for _, r := range want {
		for _, tool := range r.tools {
			need(t, tool)
		}
	}
	prepare(t)
	var out []File
	for _, r := range want {
		for _, s := range sources {
			if !r.fits(s) {
				continue
			}
			key := r.syntax + "\x00" + r.name + "\x00" + s.name
			f, ok := made[key]
			if !ok {
				path := filepath.Join(dir, fmt.Sprintf("%03d.dcm", len(made)))
				r.make(t, s, path)
				if ts := header(t, path).TransferSyntax; ts != r.syntax {
					t.Fatalf("codectest: %s on %s wrote transfer syntax %s, want %s", r.name, s.name, ts, r.syntax)
				}
				f = File{Name: s.name + " " + r.name, Path: path, Syntax: r.syntax, Source: s.path, Lossy: r.lossy}
				made[key] = f
			}
			out = append(out, f)
		}
	}
	return out
}

// Native is one native original (Explicit VR Little Endian).
type Native struct {
	Name, Path string
}

// Natives returns the native originals the compressed files are made
// from: the real files converted by dcmconv and the synthesised ones.
func Natives(t testing.TB) []Native {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	prepare(t)
	out := make([]Native, len(sources))
	for i, s := range sources {
		out[i] = Native{Name: s.name, Path: s.path}
	}
	return out
}

// Run runs a tool the package needs (skipping, or failing in CI, when it
// is not installed) and returns its output.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	need(t, name)
	return run(t, name, args...)
}

// Main runs the tests, removes the generated files and exits: call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the generated files: for a TestMain that runs the tests
// itself (one that also uses another helper's files).
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Frames returns what the attributes of the file at path say a frame is,
// and each frame's bytes: the concatenated fragments of a compressed
// frame, or the native frame.
func Frames(t testing.TB, path string) (codec.Frame, [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, path)
	if h.Frames.Deflated {
		t.Fatalf("codectest: %s is deflated", path)
	}
	var f codec.Frame
	for _, a := range []struct {
		tag string
		dst *int
	}{{"00280010", &f.Rows}, {"00280011", &f.Columns}, {"00280002", &f.Samples}, {"00280100", &f.BitsAllocated}, {"00280101", &f.BitsStored}} {
		v, ok := h.Dataset.Int(a.tag)
		if !ok {
			t.Fatalf("codectest: %s has no %s", path, a.tag)
		}
		*a.dst = v
	}
	pr, _ := h.Dataset.Int("00280103")
	f.Signed = pr == 1
	f.Photometric = strings.TrimSpace(h.Dataset.String("00280004"))
	frames := make([][]byte, len(h.Frames.Frames))
	for i, rs := range h.Frames.Frames {
		for _, r := range rs {
			frames[i] = append(frames[i], b[r.Offset:r.Offset+r.Length]...)
		}
	}
	return f, frames
}

// Reference returns the frames of f as a third-party decoder gives them
// (DCMTK's dcmdjpls, dcmdjpeg and dcmdrle, GDCM for JPEG 2000, OpenJPH's
// ojph_expand for HTJ2K, OpenJPEG's opj_decompress for signed HTJ2K):
// what a lossy decode is compared with.
func Reference(t testing.TB, f File) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "reference.dcm")
	switch f.Syntax {
	case codec.JPEGLSLossless, codec.JPEGLSNear:
		run(t, "dcmdjpls", "-q", f.Path, out)
	case codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1:
		run(t, "dcmdjpeg", "-q", f.Path, out)
	case codec.RLELossless:
		run(t, "dcmdrle", "-q", f.Path, out)
	case codec.JPEG2000Lossless, codec.JPEG2000:
		run(t, "gdcmconv", "--raw", f.Path, out)
	case codec.HTJ2KLossless, codec.HTJ2KLosslessRPCL, codec.HTJ2K:
		return expandHT(t, f)
	default:
		t.Fatalf("codectest: no reference decoder for %s", f.Syntax)
	}
	_, frames := Frames(t, out)
	return frames
}

// need skips (fails in CI) when a tool is not installed.
func need(t testing.TB, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	msg := "codectest: " + tool + " is not installed (run scripts/dcmtk.sh and scripts/codecs.sh): this test was SKIPPED"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	need(t, name)
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("codectest: %s %v: %v\n%s", name, args, err, stderr.String())
	}
	return stdout.Bytes()
}

func header(t testing.TB, path string) *dcm.Header {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(fh, st.Size(), dcm.Limits{})
	if err != nil {
		t.Fatalf("codectest: read %s: %v", path, err)
	}
	return h
}

// realFiles are the files of suyashkumar/dicom's testdata used, all but
// 2.dcm (another slice of 1.dcm's PET series): 16-bit signed PET, 12-bit
// MR, a 10-bit MONOCHROME1 radiograph of 2140x1760, a 2-frame 16-bit CT,
// an 8-bit image stored deflated.
var realFiles = []string{"1.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"}

// prepare makes the native originals once: the real files converted to
// Explicit VR Little Endian by dcmconv, and the synthesised ones.
func prepare(t testing.TB) {
	t.Helper()
	if sources != nil {
		return
	}
	need(t, "dcmconv")
	need(t, "dump2dcm")
	src, err := corpus.SourceDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("codectest: %v", err)
		}
		t.Skipf("codectest: %v: this test was SKIPPED", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gw-codectest-*"); err != nil {
			t.Fatal(err)
		}
	}
	var ss []*source
	for _, name := range realFiles {
		path := filepath.Join(dir, "native-"+name)
		run(t, "dcmconv", "-q", "+te", filepath.Join(src, name), path)
		f, _ := Frames(t, path)
		ss = append(ss, &source{name: name, path: path, f: f})
	}
	for _, s := range synthetic {
		path := filepath.Join(dir, "native-"+s.name+".dcm")
		writeSynthetic(t, s, path)
		f, _ := Frames(t, path)
		ss = append(ss, &source{name: s.name, path: path, f: f})
	}
	sources = ss
}

// synth describes a synthesised original.
type synth struct {
	name                       string
	samples, allocated, stored int
	signed                     bool
}

// synthetic images are 67x45 (odd sizes: no dimension a multiple of a
// code block or a tile), smooth with noise, and hold the minimum and
// maximum values of their range.
var synthetic = []synth{
	{name: "synthetic-u8", samples: 1, allocated: 8, stored: 8},
	{name: "synthetic-s12", samples: 1, allocated: 16, stored: 12, signed: true},
	{name: "synthetic-s16", samples: 1, allocated: 16, stored: 16, signed: true},
	{name: "synthetic-rgb8", samples: 3, allocated: 8, stored: 8},
}

const synthRows, synthCols = 45, 67

func synthPixels(s synth) []byte {
	rng := rand.New(rand.NewPCG(uint64(s.stored), uint64(s.samples)))
	lo, hi := 0, 1<<s.stored-1
	if s.signed {
		lo, hi = -(1 << (s.stored - 1)), 1<<(s.stored-1)-1
	}
	span := hi - lo
	n := synthRows * synthCols * s.samples
	out := make([]byte, 0, n*s.allocated/8)
	for y := range synthRows {
		for x := range synthCols {
			for c := range s.samples {
				v := lo + (span*x/(synthCols-1)*(3-c)+span*y/(synthRows-1)*(1+c))/4 + rng.IntN(span/32+1)
				switch {
				case x == 0 && y == 0:
					v = lo
				case x == synthCols-1 && y == synthRows-1:
					v = hi
				}
				v = min(max(v, lo), hi)
				if s.allocated == 8 {
					out = append(out, byte(v))
				} else {
					out = binary.LittleEndian.AppendUint16(out, uint16(int16(v)))
				}
			}
		}
	}
	return out
}

func writeSynthetic(t testing.TB, s synth, path string) {
	t.Helper()
	raw := path + ".raw"
	if err := os.WriteFile(raw, synthPixels(s), 0o600); err != nil {
		t.Fatal(err)
	}
	photometric, vr := "MONOCHROME2", "OW"
	if s.samples == 3 {
		photometric = "RGB"
	}
	if s.allocated == 8 {
		vr = "OB"
	}
	pr := 0
	if s.signed {
		pr = 1
	}
	uid := "1.2.826.0.1.3680043.10.1078.20." + fmt.Sprint(s.samples*100+s.stored)
	dump := fmt.Sprintf(`(0002,0001) OB 00\01
(0002,0002) UI =SecondaryCaptureImageStorage
(0002,0003) UI [%[1]s.3]
(0002,0010) UI =LittleEndianExplicit
(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [%[1]s.3]
(0008,0020) DA [20261202]
(0008,0060) CS [OT]
(0010,0010) PN [Synthetic^Codec]
(0010,0020) LO [CODECTEST]
(0020,000d) UI [%[1]s.1]
(0020,000e) UI [%[1]s.2]
(0020,0013) IS [1]
(0028,0002) US %[2]d
%[3]s(0028,0004) CS [%[4]s]
(0028,0010) US %[5]d
(0028,0011) US %[6]d
(0028,0100) US %[7]d
(0028,0101) US %[8]d
(0028,0102) US %[9]d
(0028,0103) US %[10]d
(7fe0,0010) %[11]s =%[12]s
`, uid, s.samples, planar(s.samples), photometric, synthRows, synthCols, s.allocated, s.stored, s.stored-1, pr, vr, raw)
	in := path + ".dump"
	if err := os.WriteFile(in, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "dump2dcm", "-q", "+te", in, path)
}

func planar(samples int) string {
	if samples == 3 {
		return "(0028,0006) US 0\n"
	}
	return ""
}

// Compare returns the largest difference between the samples of two
// frames laid out as f says, and their peak signal-to-noise ratio in dB
// (+Inf when they are equal; the peak is the largest stored value).
// Frames of different lengths differ by math.MaxInt.
func Compare(a, b []byte, f codec.Frame) (maxDiff int, psnr float64) {
	x, y := samples(a, f), samples(b, f)
	if len(x) != len(y) {
		return math.MaxInt, 0
	}
	var se float64
	for i := range x {
		d := x[i] - y[i]
		maxDiff = max(maxDiff, d, -d)
		se += float64(d) * float64(d)
	}
	if se == 0 {
		return 0, math.Inf(1)
	}
	peak := float64(int(1)<<f.BitsStored - 1)
	return maxDiff, 10 * math.Log10(peak*peak*float64(len(x))/se)
}

// Clamp returns frame px (laid out as f says) with each sample clamped to
// the range of f.BitsStored: what a lossy decode is expected to give
// where a reference decoder returns the codestream's wider precision.
func Clamp(px []byte, f codec.Frame) []byte {
	lo, hi := 0, 1<<f.BitsStored-1
	if f.Signed {
		lo, hi = -(1 << (f.BitsStored - 1)), 1<<(f.BitsStored-1)-1
	}
	out := bytes.Clone(px)
	for i, v := range samples(px, f) {
		v = min(max(v, lo), hi)
		if f.BitsAllocated == 8 {
			out[i] = byte(v)
		} else {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
		}
	}
	return out
}

func samples(px []byte, f codec.Frame) []int {
	if f.BitsAllocated == 8 {
		out := make([]int, len(px))
		for i, b := range px {
			out[i] = int(b)
			if f.Signed {
				out[i] = int(int8(b))
			}
		}
		return out
	}
	out := make([]int, len(px)/2)
	for i := range out {
		v := binary.LittleEndian.Uint16(px[2*i:])
		out[i] = int(v)
		if f.Signed {
			out[i] = int(int16(v))
		}
	}
	return out
}

// StoredBits keeps the BitsStored low bits of each 16-bit word of frames:
// what a decoder that does not sign-extend (DCMTK) gives is compared so.
func StoredBits(frames [][]byte, ds dcm.Dataset) [][]byte {
	alloc, _ := ds.Int("00280100")
	stored, ok := ds.Int("00280101")
	if alloc != 16 || !ok || stored >= 16 {
		return frames
	}
	mask := uint16(1)<<stored - 1
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = bytes.Clone(f)
		for j := 0; j+1 < len(f); j += 2 {
			w := (uint16(f[j]) | uint16(f[j+1])<<8) & mask
			out[i][j], out[i][j+1] = byte(w), byte(w>>8)
		}
	}
	return out
}
