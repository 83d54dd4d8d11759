//go:build cgocodecs && cgo

package openjpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// TestDecodeFiles decodes every JPEG 2000 and HTJ2K file GDCM and OpenJPH
// made: lossless ones give the original's bytes, lossy ones stay within
// one of the reference decoder's samples clamped to BitsStored.
func TestDecodeFiles(t *testing.T) {
	files := codectest.Files(t, Syntaxes...)
	seen := map[string]bool{}
	for _, file := range files {
		seen[file.Syntax] = true
		t.Run(file.Name, func(t *testing.T) {
			f, frames := codectest.Frames(t, file.Path)
			_, want := codectest.Frames(t, file.Source)
			var ref [][]byte
			if file.Lossy {
				ref = codectest.Reference(t, file)
			}
			lossy := slices.Contains(LossySyntaxes, file.Syntax)
			for i, src := range frames {
				img, err := Decoder{Lossy: lossy}.Decode(src, f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Samples == 3 && img.Photometric != "RGB" {
					t.Errorf("frame %d: photometric %s, want RGB (stored %s)", i, img.Photometric, f.Photometric)
				}
				if !file.Lossy {
					if !bytes.Equal(img.Pixels, want[i]) {
						t.Errorf("frame %d: %d decoded bytes differ from the original's %d", i, len(img.Pixels), len(want[i]))
					}
					continue
				}
				// The reference keeps the codestream's precision; the
				// decoder clamps to BitsStored (TestLossyInStoredRange).
				if d, _ := codectest.Compare(img.Pixels, codectest.Clamp(ref[i], f), f); d > 1 {
					t.Errorf("frame %d: a sample differs from the reference decoder's (clamped to BitsStored) by %d", i, d)
				}
				_, psnr := codectest.Compare(img.Pixels, want[i], f)
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

// TestLossyInStoredRange: lossy JPEG 2000 frames decode within the range
// of BitsStored, where the codestream's precision is wider (GDCM writes
// 16 bits for 12-bit data) and the reference decoder returns samples
// beyond it (a signed 12-bit image's overshoot to 2060, which a reader
// keeping 12 bits wraps to -2036). Also the diagnosis of a lossy MR that
// renders almost white: GDCM's quality 55 (a PSNR against 16-bit peaks)
// leaves it a flat field near 256 where the original is near 0, and
// that is the codestream's content, the reference decoder's byte for
// byte.
func TestLossyInStoredRange(t *testing.T) {
	outside := 0
	var mr codectest.File
	for _, file := range codectest.Files(t, codec.JPEG2000) {
		if strings.HasPrefix(file.Name, "3.dcm ") {
			mr = file
		}
		f, frames := codectest.Frames(t, file.Path)
		ref := codectest.Reference(t, file)
		for i, src := range frames {
			img, err := Decoder{Lossy: true}.Decode(src, f)
			if err != nil {
				t.Fatalf("%s frame %d: %v", file.Name, i, err)
			}
			if !bytes.Equal(img.Pixels, codectest.Clamp(img.Pixels, f)) {
				t.Errorf("%s frame %d: decoded samples outside the range of %d stored bits", file.Name, i, f.BitsStored)
			}
			if !bytes.Equal(ref[i], codectest.Clamp(ref[i], f)) {
				outside++
				if d, _ := codectest.Compare(img.Pixels, codectest.Clamp(ref[i], f), f); d > 1 {
					t.Errorf("%s frame %d: differs from the clamped reference by %d", file.Name, i, d)
				}
			}
		}
	}
	if outside == 0 {
		t.Error("no reference decode goes beyond BitsStored: the test shows nothing")
	}

	if mr.Path == "" {
		t.Fatal("codectest made no lossy JPEG 2000 of the MR (3.dcm)")
	}
	q55 := filepath.Join(t.TempDir(), "q55.dcm")
	if out, err := exec.Command("gdcmconv", "--j2k", "--lossy", "-q", "55", mr.Source, q55).CombinedOutput(); err != nil {
		t.Fatalf("gdcmconv: %v\n%s", err, out)
	}
	file := codectest.File{Name: "3.dcm q55", Path: q55, Syntax: codec.JPEG2000, Source: mr.Source, Lossy: true}
	f, frames := codectest.Frames(t, q55)
	_, orig := codectest.Frames(t, mr.Source)
	img, err := Decoder{Lossy: true}.Decode(frames[0], f)
	if err != nil {
		t.Fatal(err)
	}
	if ref := codectest.Reference(t, file); !bytes.Equal(img.Pixels, ref[0]) {
		t.Error("the quality-55 MR decodes differently from the reference decoder")
	}
	mean := func(px []byte) float64 {
		sum := 0
		for i := 0; i < len(px); i += 2 {
			sum += int(binary.LittleEndian.Uint16(px[i:]))
		}
		return float64(sum) / float64(len(px)/2)
	}
	_, psnr := codectest.Compare(img.Pixels, orig[0], f)
	t.Logf("MR at gdcmconv -q 55: mean %.1f (the original's %.1f), PSNR %.1f dB against 12 bits: the encoder's loss", mean(img.Pixels), mean(orig[0]), psnr)
}

// TestEncodeRoundTrip encodes every original losslessly and decodes it
// back to the same bytes.
func TestEncodeRoundTrip(t *testing.T) {
	done := map[string]bool{}
	for _, file := range codectest.Files(t, codec.JPEG2000Lossless) {
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
				df := f
				if f.Samples == 3 {
					df.Photometric = "YBR_RCT"
				}
				img, err := Decoder{}.Decode(cs, df)
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
	if _, err := (Encoder{}).Encode(make([]byte, 10), codec.Frame{Rows: 4, Columns: 4, Samples: 1, BitsAllocated: 8, BitsStored: 8}); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("10 bytes for a 16-byte frame: %v, want ErrInvalid", err)
	}
}

// TestHostile: each bad input is an error wrapping ErrInvalid or
// ErrUnsupported, with a reason, never a panic.
func TestHostile(t *testing.T) {
	file := firstFile(t, codec.JPEG2000Lossless, "3.dcm")
	f, frames := codectest.Frames(t, file.Path)
	cs := frames[0]
	siz := bytes.Index(cs, []byte{0xff, 0x51})
	cod := bytes.Index(cs, []byte{0xff, 0x52})
	if siz != 2 || cod < 0 {
		t.Fatalf("no SIZ at 2 or no COD in the codestream (%d, %d)", siz, cod)
	}
	patch := func(at int, b ...byte) []byte {
		out := bytes.Clone(cs)
		copy(out[at:], b)
		return out
	}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	// SIZ: marker, Lsiz, Rsiz, Xsiz at 6, Ysiz at 10, XOsiz, YOsiz,
	// XTsiz at 22, YTsiz at 26, XTOsiz at 30, YTOsiz, Csiz at 38.
	// COD: marker, Lcod, Scod, progression, layers (2), MCT, then the
	// decomposition levels at 9.
	sizEnd := siz + 2 + int(binary.BigEndian.Uint16(cs[siz+2:]))
	manyComps := append(manyComponents(cs[siz:sizEnd], 16384), cs[sizEnd:]...)
	cases := []struct {
		name string
		src  []byte
		f    codec.Frame
		want string
	}{
		{"empty", nil, f, "neither"},
		{"not JPEG 2000", []byte("\xff\xd8\xff\xe0 a JPEG"), f, "neither"},
		{"truncated in the SIZ marker", cs[:20], f, "SIZ"},
		{"truncated in the main header", cs[:cod+4], f, "OpenJPEG"},
		{"truncated after the header", cs[:cod+20], f, "OpenJPEG"},
		{"truncated in the tile data", cs[:len(cs)/2], f, "OpenJPEG"},
		{"end marker missing", cs[:len(cs)-2], f, "OpenJPEG"},
		{"frame smaller than the codestream", cs, codec.Frame{Rows: f.Rows / 2, Columns: f.Columns, Samples: 1, BitsAllocated: 16, BitsStored: 12}, "the codestream is"},
		{"codestream larger than the frame", patch(siz+6, append(be32(uint32(4*f.Columns)), be32(uint32(4*f.Rows))...)...), f, "the codestream is"},
		{"frame of three samples", cs, codec.Frame{Rows: f.Rows, Columns: f.Columns, Samples: 3, BitsAllocated: 16, BitsStored: 12}, "components"},
		{"precision beyond the allocated bits", cs, codec.Frame{Rows: f.Rows, Columns: f.Columns, Samples: 1, BitsAllocated: 8, BitsStored: 8}, "bits"},
		{"tiles of one pixel", patch(siz+22, append(be32(1), be32(1)...)...), f, "tile"},
		{"tile offset beyond the image", patch(siz+30, be32(1000)...), f, "tiles of"},
		{"JP2 without a codestream box", append(bytes.Clone(jp2Signature), 0, 0, 0, 8, 'f', 't', 'y', 'p'), f, "no codestream box"},
		{"JP2 box longer than the file", append(bytes.Clone(jp2Signature), 0, 0, 1, 0, 'j', 'p', '2', 'c'), f, "JP2 box"},
		{"33 decomposition levels", patch(cod+9, 33), f, "OpenJPEG"},
		{"16384 components", manyComps, f, ""},
		{"frame beyond the working-memory bound", cs, codec.Frame{Rows: 65535, Columns: 65535, Samples: 1, BitsAllocated: 16, BitsStored: 16}, "more than"},
	}
	var hostile []codectest.Hostile
	for _, c := range cases {
		hostile = append(hostile, codectest.Hostile{Name: c.name, Src: c.src, F: c.f, Want: c.want})
	}
	codectest.RefuseAll(t, Decoder{}, hostile)
}

// TestJP2 decodes a JP2 file (boxes around the codestream) that
// opj_compress made from an original's frame.
func TestJP2(t *testing.T) {
	tool, err := exec.LookPath("opj_compress")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("opj_compress is not installed (scripts/codecs.sh)")
		}
		t.Skip("opj_compress is not installed (run scripts/codecs.sh): SKIPPED")
	}
	file := firstFile(t, codec.JPEG2000Lossless, "synthetic-u8")
	f, frames := codectest.Frames(t, file.Source)
	dir := t.TempDir()
	pgm := filepath.Join(dir, "in.pgm")
	hdr := fmt.Sprintf("P5\n%d %d\n255\n", f.Columns, f.Rows)
	if err := os.WriteFile(pgm, append([]byte(hdr), frames[0]...), 0o600); err != nil {
		t.Fatal(err)
	}
	jp2 := filepath.Join(dir, "out.jp2")
	if out, err := exec.Command(tool, "-i", pgm, "-o", jp2).CombinedOutput(); err != nil {
		t.Fatalf("opj_compress: %v\n%s", err, out)
	}
	b, err := os.ReadFile(jp2)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Decoder{}.Decode(b, f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pixels, frames[0]) {
		t.Error("the JP2 file decodes to other pixels than the original's")
	}
}

// manyComponents rewrites a SIZ segment (marker included) to declare n
// components like its first.
func manyComponents(siz []byte, n int) []byte {
	head := bytes.Clone(siz[:40]) // marker to Csiz
	binary.BigEndian.PutUint16(head[2:], uint16(38+3*n))
	binary.BigEndian.PutUint16(head[38:], uint16(n))
	out := append([]byte{0xff, 0x4f}, head...)
	for range n {
		out = append(out, siz[40:43]...)
	}
	return out
}

func firstFile(t *testing.T, syntax, source string) codectest.File {
	t.Helper()
	for _, f := range codectest.Files(t, syntax) {
		if strings.HasPrefix(f.Name, source+" ") {
			return f
		}
	}
	t.Fatalf("no %s file of %s", syntax, source)
	return codectest.File{}
}

// FuzzDecode: whatever the bytes and the frame, an error or an image of
// the frame's size, never a panic. The size mostly comes from the
// codestream's SIZ.
func FuzzDecode(f *testing.F) {
	codectest.FuzzDecoder(f, Decoder{}, func(src []byte) (int, int, bool) {
		if len(src) < 42 || !bytes.HasPrefix(src, j2kSignature) {
			return 0, 0, false
		}
		be := binary.BigEndian
		return int(be.Uint32(src[12:]) - be.Uint32(src[20:])), int(be.Uint32(src[8:]) - be.Uint32(src[16:])), true
	}, Syntaxes...)
}
