package codectest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// tool returns a recipe running one command line "tool opts... in out".
func tool(syntax string, lossy bool, fits func(*source) bool, name string, opts ...string) recipe {
	return recipe{
		name: strings.Join(append([]string{name}, opts...), " "), syntax: syntax, lossy: lossy,
		tools: []string{name}, fits: fits,
		make: func(t testing.TB, s *source, out string) {
			run(t, name, append(opts, s.path, out)...)
		},
	}
}

func all(*source) bool      { return true }
func colour(s *source) bool { return s.f.Samples == 3 }
func upTo(bits int) func(*source) bool {
	return func(s *source) bool { return s.f.BitsStored <= bits }
}

func even(s *source) bool { return s.f.Rows%2 == 0 && s.f.Columns%2 == 0 }

// unsigned: DCMTK's JPEG and JPEG-LS codecs write signed data as it is
// only in their lossless modes; lossy modes are made of unsigned images.
func unsigned(s *source) bool { return !s.f.Signed }

func and(fs ...func(*source) bool) func(*source) bool {
	return func(s *source) bool {
		for _, f := range fs {
			if !f(s) {
				return false
			}
		}
		return true
	}
}

var recipes = []recipe{
	// JPEG 2000 (GDCM on OpenJPEG; lossy: the irreversible 9/7 wavelet).
	tool(codec.JPEG2000Lossless, false, all, "gdcmconv", "--j2k"),
	tool(codec.JPEG2000, true, all, "gdcmconv", "--j2k", "--lossy", "-r", "10"),
	// JPEG-LS (GDCM on CharLS; DCMTK's own implementation).
	tool(codec.JPEGLSLossless, false, all, "gdcmconv", "--jpegls"),
	tool(codec.JPEGLSNear, true, unsigned, "gdcmconv", "--jpegls", "--lossy", "-e", "2"),
	tool(codec.JPEGLSLossless, false, all, "dcmcjpls", "-q", "+el"),
	tool(codec.JPEGLSNear, true, unsigned, "dcmcjpls", "-q", "+en", "+md", "3"),
	tool(codec.JPEGLSLossless, false, colour, "dcmcjpls", "-q", "+el", "+in"),
	tool(codec.JPEGLSLossless, false, colour, "dcmcjpls", "-q", "+el", "+is"),
	// Frames in fragments of at most 4 KiB: a frame is their concatenation.
	tool(codec.JPEGLSLossless, false, all, "dcmcjpls", "-q", "+el", "+fs", "4"),
	// JPEG (DCMTK's IJG-based codec).
	tool(codec.JPEGLosslessSV1, false, all, "dcmcjpeg", "-q", "+e1"),
	tool(codec.JPEGLossless, false, all, "dcmcjpeg", "-q", "+el", "+sv", "4"),
	tool(codec.JPEGLosslessSV1, false, all, "dcmcjpeg", "-q", "+e1", "+fs", "4"),
	tool(codec.JPEGBaseline, true, and(upTo(8), unsigned), "dcmcjpeg", "-q", "+eb"),
	tool(codec.JPEGExtended, true, and(upTo(12), unsigned), "dcmcjpeg", "-q", "+ee"),
	// JPEG (GDCM's codecs: IJG for lossy, its own lossless).
	tool(codec.JPEGLosslessSV1, false, all, "gdcmconv", "--jpeg"),
	tool(codec.JPEGBaseline, true, and(upTo(8), unsigned), "gdcmconv", "--jpeg", "--lossy"),
	// (Its lossy mode on 9-12 bits writes a precision of 16, which no
	// DCT decoder takes: left out.)
	// RLE.
	tool(codec.RLELossless, false, all, "dcmcrle", "-q"),
	// GDCM 3.0.21's RLE encoder asserts on odd sizes (the synthetic images).
	tool(codec.RLELossless, false, even, "gdcmconv", "--rle"),
	// HTJ2K codestreams by OpenJPH.
	htj2k(codec.HTJ2KLossless, false, "LRCP"),
	htj2k(codec.HTJ2KLosslessRPCL, false, "RPCL"),
	htj2k(codec.HTJ2K, true, "LRCP"),
}

// htj2k compresses each frame with ojph_compress and wraps the
// codestreams into a copy of the source: dcmdump writes its data set as
// text (pixel data to a file), the text gets the new transfer syntax and
// a pixel sequence, dump2dcm writes it back. DCMTK 3.6.7 does not know
// the HTJ2K syntaxes, so it writes JPEG 2000's and the meta is patched.
func htj2k(syntax string, lossy bool, order string) recipe {
	name := "ojph_compress -prog_order " + order
	if lossy {
		name += " -qstep 0.01"
	} else {
		name += " -reversible true"
	}
	return recipe{
		name: name, syntax: syntax, lossy: lossy,
		tools: []string{"ojph_compress", "dcmdump", "dump2dcm"},
		// OpenJPH 0.9's raw reader and writer clamp negative samples:
		// signed images are read from TIFF, and only losslessly coded
		// (the reference decoder of a lossy one would be OpenJPEG, the
		// library under test).
		fits: func(s *source) bool {
			return !s.f.Signed || !lossy && s.f.Samples == 1 && s.f.BitsAllocated == 16
		},
		make: func(t testing.TB, s *source, out string) {
			work := t.TempDir()
			_, frames := Frames(t, s.path)
			var items []string
			for i, fr := range frames {
				j2c := out + fmt.Sprintf(".f%d.j2c", i)
				var args []string
				if s.f.Samples == 3 {
					// ojph_compress applies its colour transform to
					// PPM input only.
					ppm := filepath.Join(work, fmt.Sprintf("f%d.ppm", i))
					hdr := fmt.Sprintf("P6\n%d %d\n%d\n", s.f.Columns, s.f.Rows, 1<<s.f.BitsStored-1)
					if err := os.WriteFile(ppm, append([]byte(hdr), bigEndian(fr, s.f)...), 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"-i", ppm, "-colour_trans", "true"}
				} else if s.f.Signed {
					tif := filepath.Join(work, fmt.Sprintf("f%d.tif", i))
					if err := os.WriteFile(tif, signedTIFF(fr, s.f), 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"-i", tif}
				} else {
					raw := filepath.Join(work, fmt.Sprintf("f%d.yuv", i))
					if err := os.WriteFile(raw, fr, 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"-i", raw, "-dims", fmt.Sprintf("{%d,%d}", s.f.Columns, s.f.Rows),
						"-num_comps", "1", "-signed", strconv.FormatBool(s.f.Signed),
						"-bit_depth", strconv.Itoa(s.f.BitsStored), "-downsamp", "{1,1}"}
				}
				args = append(args, "-o", j2c, "-prog_order", order)
				if lossy {
					args = append(args, "-qstep", "0.01")
				} else {
					args = append(args, "-reversible", "true")
				}
				run(t, "ojph_compress", args...)
				items = append(items, "(fffe,e000) pi ="+j2c)
			}
			photometric := s.f.Photometric
			if s.f.Samples == 3 {
				photometric = "YBR_RCT"
				if lossy {
					photometric = "YBR_ICT"
				}
			}
			dump := string(run(t, "dcmdump", "-q", "+L", "+W", work, s.path))
			var b strings.Builder
			for _, line := range strings.Split(dump, "\n") {
				switch {
				case strings.HasPrefix(line, "(0002,0000)"):
				case strings.HasPrefix(line, "(0002,0010)"):
					b.WriteString("(0002,0010) UI =JPEG2000LosslessOnly\n")
				case strings.HasPrefix(line, "(0028,0004)"):
					b.WriteString("(0028,0004) CS [" + photometric + "]\n")
				case strings.HasPrefix(line, "(7fe0,0010)"):
					b.WriteString("(7fe0,0010) OB (PixelSequence\n(fffe,e000) pi\n" + strings.Join(items, "\n") + "\n(fffe,e0dd) na\n")
				default:
					b.WriteString(line + "\n")
				}
			}
			in := filepath.Join(work, "ht.dump")
			if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, "dump2dcm", "-q", in, out)
			setSyntax(t, out, syntax)
		},
	}
}

// bigEndian gives a native frame's samples as PPM holds them (16-bit
// samples big endian).
func bigEndian(fr []byte, f codec.Frame) []byte {
	if f.BitsAllocated == 8 {
		return fr
	}
	out := make([]byte, len(fr))
	for i := 0; i+1 < len(fr); i += 2 {
		out[i], out[i+1] = fr[i+1], fr[i]
	}
	return out
}

// signedTIFF is a frame of 16-bit signed grey samples as an uncompressed
// little-endian TIFF (SampleFormat 2), which ojph_compress reads as such.
func signedTIFF(fr []byte, f codec.Frame) []byte {
	le := binary.LittleEndian
	type entry struct{ tag, typ, val uint32 }
	entries := []entry{{256, 4, uint32(f.Columns)}, {257, 4, uint32(f.Rows)}, {258, 3, 16}, {259, 3, 1},
		{262, 3, 1}, {273, 4, 0}, {277, 3, 1}, {278, 4, uint32(f.Rows)}, {279, 4, uint32(len(fr))}, {284, 3, 1}, {339, 3, 2}}
	dataAt := uint32(8 + 2 + 12*len(entries) + 4)
	out := le.AppendUint32([]byte("II*\x00"), 8)
	out = le.AppendUint16(out, uint16(len(entries)))
	for _, e := range entries {
		if e.tag == 273 {
			e.val = dataAt
		}
		out = le.AppendUint16(out, uint16(e.tag))
		out = le.AppendUint16(out, uint16(e.typ))
		out = le.AppendUint32(out, 1)
		if e.typ == 3 {
			out = le.AppendUint16(out, uint16(e.val))
			out = le.AppendUint16(out, 0)
		} else {
			out = le.AppendUint32(out, e.val)
		}
	}
	out = le.AppendUint32(out, 0)
	return append(out, fr...)
}

// expandHT decodes each HTJ2K frame of f with OpenJPH's ojph_expand, or
// for signed images (which its raw writer clamps) with OpenJPEG's
// opj_decompress.
func expandHT(t testing.TB, f File) [][]byte {
	t.Helper()
	fr, frames := Frames(t, f.Path)
	work := t.TempDir()
	out := make([][]byte, len(frames))
	for i, cs := range frames {
		// Colour comes out as PPM (interleaved, big endian), grey as raw
		// little-endian samples of the stored bits.
		ext := ".yuv"
		if fr.Samples == 3 {
			ext = ".ppm"
		}
		in, raw := filepath.Join(work, fmt.Sprintf("f%d.j2c", i)), filepath.Join(work, fmt.Sprintf("f%d%s", i, ext))
		if err := os.WriteFile(in, cs, 0o600); err != nil {
			t.Fatal(err)
		}
		if fr.Signed {
			run(t, "opj_decompress", "-quiet", "-i", in, "-o", raw+".raw")
			raw += ".raw"
		} else {
			run(t, "ojph_expand", "-i", in, "-o", raw)
		}
		b, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Samples == 3 {
			// Skip the header's four tokens (P6, width, height, maxval).
			for k := 0; k < 4; k++ {
				for len(b) > 0 && (b[0] == ' ' || b[0] == '\n') {
					b = b[1:]
				}
				for len(b) > 0 && b[0] != ' ' && b[0] != '\n' {
					b = b[1:]
				}
			}
			b = bigEndian(b[1:], fr)
		}
		out[i] = b
	}
	return out
}

// setSyntax rewrites the TransferSyntaxUID of the file meta at path (and
// the meta's group length).
func setSyntax(t testing.TB, path, syntax string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		t.Fatalf("codectest: %s is not a Part 10 file", path)
	}
	type elem struct {
		tag   uint32
		vr    string
		value []byte
	}
	var meta []elem
	p := 132
	for p+8 <= len(b) && binary.LittleEndian.Uint16(b[p:]) == 2 {
		tag := uint32(binary.LittleEndian.Uint16(b[p:]))<<16 | uint32(binary.LittleEndian.Uint16(b[p+2:]))
		vr := string(b[p+4 : p+6])
		var n, hl int
		if vr == "OB" || vr == "UN" || vr == "SQ" || vr == "UT" {
			n, hl = int(binary.LittleEndian.Uint32(b[p+8:])), 12
		} else {
			n, hl = int(binary.LittleEndian.Uint16(b[p+6:])), 8
		}
		meta = append(meta, elem{tag, vr, b[p+hl : p+hl+n]})
		p += hl + n
	}
	v := []byte(syntax)
	if len(v)%2 == 1 {
		v = append(v, 0)
	}
	var body []byte
	for _, e := range meta {
		switch e.tag {
		case 0x00020000:
			continue
		case 0x00020010:
			e.value = v
		}
		body = binary.LittleEndian.AppendUint16(body, 2)
		body = binary.LittleEndian.AppendUint16(body, uint16(e.tag))
		body = append(body, e.vr...)
		if e.vr == "OB" || e.vr == "UN" || e.vr == "SQ" || e.vr == "UT" {
			body = append(body, 0, 0)
			body = binary.LittleEndian.AppendUint32(body, uint32(len(e.value)))
		} else {
			body = binary.LittleEndian.AppendUint16(body, uint16(len(e.value)))
		}
		body = append(body, e.value...)
	}
	out := append([]byte{}, b[:132]...)
	out = append(out, 2, 0, 0, 0, 'U', 'L', 4, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	out = append(out, b[p:]...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
