package jpeg

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// stream is a real codestream and the frame it decodes to.
type stream struct {
	name string
	src  []byte
	f    codec.Frame
}

// realStreams compresses small images with the third-party encoders: a
// lossless 16-bit frame, a lossless RGB frame, an extended 12-bit frame and
// a 4:2:0 baseline frame with a restart marker after every MCU.
func realStreams(t testing.TB) []stream {
	t.Helper()
	u16 := synth("u16", 19, 23, 1, 16, 16, false)
	rgb := synth("rgb8", 21, 27, 3, 8, 8, false)
	u12 := synth("u12", 17, 25, 1, 16, 12, false)
	var out []stream
	for _, c := range []struct {
		name string
		im   image
		enc  func(t testing.TB, path string) string
	}{
		{"lossless-u16", u16, func(t testing.TB, p string) string { return dcmtk(t, "dcmcjpeg", p, "+el", "+sv", "6") }},
		{"lossless-rgb", rgb, func(t testing.TB, p string) string { return dcmtk(t, "dcmcjpeg", p, "+e1") }},
		{"extended-u12", u12, func(t testing.TB, p string) string { return dcmtk(t, "dcmcjpeg", p, "+ee") }},
		{"baseline-420-restart", rgb, func(t testing.TB, _ string) string {
			jpg := filepath.Join(t.TempDir(), "out.jpg")
			if err := os.WriteFile(jpg, cjpegFile(t, rgb, "-restart", "1B"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dcmtk(t, "img2dcm", jpg, "-i", "JPEG")
		}},
	} {
		f, fr := frames(t, c.enc(t, c.im.write(t)))
		out = append(out, stream{c.name, fr[0], f})
	}
	return out
}

// refused checks that decoding fails with ErrInvalid (or ErrUnsupported
// when unsupported is set), which Decode promises for every bad input.
func refused(t *testing.T, src []byte, f codec.Frame, unsupported bool) {
	t.Helper()
	_, err := Decoder{}.Decode(src, f)
	want := codec.ErrInvalid
	if unsupported {
		want = codec.ErrUnsupported
	}
	if !errors.Is(err, want) {
		t.Fatalf("Decode = %v, want %v", err, want)
	}
}

// TestTruncated cuts each real stream at every byte: every cut before the
// end of the last scan is ErrInvalid, never a picture with a grey tail.
func TestTruncated(t *testing.T) {
	for _, s := range realStreams(t) {
		t.Run(s.name, func(t *testing.T) {
			if _, err := (Decoder{}).Decode(s.src, s.f); err != nil {
				t.Fatalf("whole stream: %v", err)
			}
			end := bytes.LastIndex(s.src, []byte{0xFF, mEOI})
			for end > 0 && s.src[end-1] == 0xFF {
				end-- // fill bytes before EOI (IJG writes one)
			}
			for n := 0; n < end; n++ {
				_, err := Decoder{}.Decode(s.src[:n], s.f)
				if !errors.Is(err, codec.ErrInvalid) {
					t.Fatalf("cut at %d of %d bytes: %v, want ErrInvalid", n, len(s.src), err)
				}
			}
		})
	}
}

// TestHostile: the bad inputs the issue names, made from real streams.
func TestHostile(t *testing.T) {
	for _, s := range realStreams(t) {
		for _, c := range hostileCases(t, s) {
			t.Run(s.name+"/"+c.name, func(t *testing.T) { refused(t, c.src, c.f, c.unsupported) })
		}
	}
}

// hostileCases edits the real stream s into bad inputs (FuzzDecode's
// seeds too).
func hostileCases(t testing.TB, s stream) []hostileCase {
	t.Helper()
	segs, sos, ecs := split(t, s.src)
	// with rebuilds the stream with its segments changed by edit.
	with := func(edit func(segment) segment) []byte {
		var out []segment
		for _, g := range segs {
			g.data = bytes.Clone(g.data)
			out = append(out, edit(g))
		}
		return join(out, edit(segment{sos.marker, bytes.Clone(sos.data)}), ecs)
	}
	lossless := false
	for _, g := range segs {
		lossless = lossless || g.marker == mSOF3
	}
	cases := []hostileCase{
		{"empty", nil, s.f, false},
		{"no SOI", s.src[2:], s.f, false},
		{"zero-length scan", join(segs, sos), s.f, false},
		{"scan header without components", join(segs, segment{mSOS, []byte{0, 0, 63, 0}}, ecs), s.f, false},
		{"no frame header", join(segment{mSOS, sos.data}, ecs), s.f, false},
		{"no EOI and a scan missing", join(segs)[:len(join(segs))-2], s.f, false},
		{"second frame header", join(segs, segs, sos, ecs), s.f, false},
		{"Huffman table with too many short codes", with(func(g segment) segment {
			if g.marker == mDHT {
				g.data[1] = 3 // three codes of one bit
			}
			return g
		}), s.f, false},
		{"Huffman table that codes only zero bits", with(func(g segment) segment {
			if g.marker == mDHT {
				// One code, "0"; the data's first 1 bit is no code.
				var d []byte
				for len(g.data) >= 17 {
					n := 0
					for _, c := range g.data[1:17] {
						n += int(c)
					}
					tab := append([]byte{g.data[0], 1}, make([]byte, 15)...)
					d = append(append(d, tab...), 0)
					g.data = g.data[min(len(g.data), 17+n):]
				}
				g.data = d
			}
			return g
		}), s.f, false},
		{"undefined Huffman table", with(func(g segment) segment {
			if g.marker == mSOS {
				g.data[2] = 0x33
			}
			return g
		}), s.f, false},
		{"codestream wider than the frame", s.src, frameWith(s.f, func(f *codec.Frame) { f.Columns-- }), false},
		{"codestream shorter than the frame", s.src, frameWith(s.f, func(f *codec.Frame) { f.Rows++ }), false},
		{"other sample count", s.src, frameWith(s.f, func(f *codec.Frame) { f.Samples = 4 - f.Samples }), false},
	}
	if bytes.Contains(s.src, []byte{0xFF, mDRI}) {
		// RST markers then come inside an interval.
		cases = append(cases, hostileCase{"huge restart interval", with(func(g segment) segment {
			if g.marker == mDRI {
				g.data = []byte{0xFF, 0xFF}
			}
			return g
		}), s.f, false})
	} else {
		// An interval of one MCU (one line for lossless: shorter
		// ones are unsupported) with no RST marker after it.
		ri := 1
		if lossless {
			ri = s.f.Columns
		}
		cases = append(cases, hostileCase{"restart interval without markers", join(segs, segment{mDRI, []byte{byte(ri >> 8), byte(ri)}}, sos, ecs), s.f, false})
		if lossless {
			cases = append(cases, hostileCase{"lossless restart inside a line", join(segs, segment{mDRI, []byte{0, 1}}, sos, ecs), s.f, true})
		}
	}
	if s.f.BitsAllocated == 16 {
		cases = append(cases, hostileCase{"precision beyond bits allocated", s.src, frameWith(s.f, func(f *codec.Frame) { f.BitsAllocated, f.BitsStored = 8, 8 }), false})
	}
	return cases
}

// hostileCase is a bad input and the error kind it must give.
type hostileCase struct {
	name        string
	src         []byte
	f           codec.Frame
	unsupported bool
}

func frameWith(f codec.Frame, edit func(*codec.Frame)) codec.Frame {
	edit(&f)
	return f
}

// TestUnsupported: progressive (the retired 1.2.840.10008.1.2.4.55) and
// arithmetic-coded JPEG, as cjpeg writes them, are ErrUnsupported.
func TestUnsupported(t *testing.T) {
	im := synth("rgb8", 21, 27, 3, 8, 8, false)
	for _, args := range [][]string{{"-progressive"}, {"-arithmetic"}} {
		t.Run(args[0], func(t *testing.T) {
			f := codec.Frame{Rows: im.rows, Columns: im.cols, Samples: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "YBR_FULL_422"}
			refused(t, cjpegFile(t, im, args...), f, true)
		})
	}
}

// TestMemoryBound: a frame and a codestream that both claim 65535×65535
// RGB samples (24 GiB of output) with a few bytes of data are refused
// before the output is allocated.
func TestMemoryBound(t *testing.T) {
	for _, s := range realStreams(t) {
		t.Run(s.name, func(t *testing.T) {
			segs, sos, ecs := split(t, s.src)
			for i, g := range segs {
				if g.marker >= 0xC0 && g.marker <= 0xC3 {
					g.data = bytes.Clone(g.data)
					g.data[1], g.data[2], g.data[3], g.data[4] = 0xFF, 0xFF, 0xFF, 0xFF
					segs[i] = g
				}
			}
			f := s.f
			f.Rows, f.Columns = 65535, 65535
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			refused(t, join(segs, sos, ecs), f, false)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Fatalf("allocated %d bytes to refuse it", n)
			}
		})
	}
}

// TestHuffmanOverflow: tables whose counts give more codes of a length
// than that many bits can hold are refused before any code is placed (the
// first, five one-bit codes, is what FuzzDecode found writing past the
// lookup table).
func TestHuffmanOverflow(t *testing.T) {
	for _, counts := range [][16]int{
		{5, 1, 1, 1, 1, 1, 1},
		{3},
		{1, 2, 2},
		{0, 4, 1}, // every 2-bit code taken, then one more of 3 bits
	} {
		var h huffman
		if err := h.build(counts, make([]byte, 256)); !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("counts %v: %v, want ErrInvalid", counts, err)
		}
	}
	var h huffman
	if err := h.build([16]int{0, 1, 5, 1, 1, 1, 1, 1, 1}, make([]byte, 12)); err != nil {
		t.Errorf("the standard luminance DC table: %v", err)
	}
}
