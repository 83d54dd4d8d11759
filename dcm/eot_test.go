package dcm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

// ov encodes 64-bit values as an OV element.
func (e enc) ov(t uint32, vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = e.bo().AppendUint64(b, v)
	}
	return e.el(t, "OV", b)
}

// TestExtendedOffsetTable: frames are found with the Extended Offset Table
// (7FE0,0001) and its lengths (7FE0,0002) when the basic offset table is
// empty and the fragments carry no markers to split on.
func TestExtendedOffsetTable(t *testing.T) {
	const j2k = "1.2.840.10008.1.2.4.90"
	e := explicitLE
	noMark := [][]byte{frag([]byte{1}, 10), frag([]byte{2}, 12), frag([]byte{3}, 16)}
	tests := []struct {
		name      string
		frames    string
		eot, lens []uint64
		frags     [][]byte
		want      [][]byte // each frame's bytes
		errHas    string
	}{
		{name: "offsets", frames: "2", eot: []uint64{0, 8 + 10}, frags: noMark,
			want: [][]byte{noMark[0], append(append([]byte{}, noMark[1]...), noMark[2]...)}},
		{name: "offsets and lengths", frames: "3", eot: []uint64{0, 18, 38}, lens: []uint64{10, 12, 16}, frags: noMark,
			want: noMark},
		{name: "odd frames lose their pad byte", frames: "3", eot: []uint64{0, 18, 38}, lens: []uint64{9, 12, 15}, frags: noMark,
			want: [][]byte{noMark[0][:9], noMark[1], noMark[2][:15]}},
		{name: "entries for another frame count", frames: "2", eot: []uint64{0, 18, 38}, frags: noMark,
			errHas: "extended offset table has 3 entries for 2 frames"},
		{name: "offset inside a fragment", frames: "2", eot: []uint64{0, 20}, frags: noMark,
			errHas: "extended offset table entry 1 (offset 20) does not start a fragment"},
		{name: "wrong length", frames: "2", eot: []uint64{0, 18}, lens: []uint64{10, 20}, frags: noMark,
			errHas: "length of frame 2 is 20 bytes, its fragments hold 28"},
		{name: "lengths without their offsets", frames: "2", eot: []uint64{0, 18}, lens: []uint64{10}, frags: noMark,
			errHas: "lengths have 1 entries for 2 offsets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el := e.image(8, 8, 1, 8, tc.frames)
			el = append(el, e.ov(tagExtendedOffsetTable, tc.eot...))
			if tc.lens != nil {
				el = append(el, e.ov(tagExtendedOffsetTableLengths, tc.lens...))
			}
			file := part10(j2k, e.withIDs(append(el, e.encapsulated(nil, tc.frags...))...))
			h, err := readBytes(file, Limits{})
			if tc.errHas != "" {
				wantInvalid(t, err, tc.errHas)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Frames.Frames) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(h.Frames.Frames), len(tc.want))
			}
			for i, want := range tc.want {
				if got := readRanges(t, file, h.Frames.Frames[i]); !bytes.Equal(got, want) {
					t.Errorf("frame %d = % x, want % x", i+1, got, want)
				}
			}
		})
	}
	t.Run("without it the same fragments cannot be split", func(t *testing.T) {
		file := part10(j2k, e.withIDs(append(e.image(8, 8, 1, 8, "2"), e.encapsulated(nil, noMark...))...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "cannot split 3 fragments into 2 frames")
	})
	t.Run("a large table is read from a bulk value", func(t *testing.T) {
		file := part10(j2k, e.withIDs(append(e.image(8, 8, 1, 8, "2"), e.ov(tagExtendedOffsetTable, 0, 18),
			e.encapsulated(nil, noMark...))...))
		h, err := readBytes(file, Limits{InlineBinaryMax: 8})
		if err != nil || len(h.Frames.Frames) != 2 || len(h.Frames.Frames[1]) != 2 {
			t.Fatalf("frames %+v, %v", h.Frames, err)
		}
	})

	// DCMTK reads the file this package's writer makes, and finds the
	// table where the frame table came from.
	t.Run("DCMTK reads it", func(t *testing.T) {
		file := part10(j2k, e.withIDs(append(e.image(8, 8, 1, 8, "2"), e.ov(tagExtendedOffsetTable, 0, 18),
			e.ov(tagExtendedOffsetTableLengths, 10, 28), e.encapsulated(nil, noMark...))...))
		path := filepath.Join(t.TempDir(), "eot.dcm")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		out := string(dcmtktest.Run(t, "dcmdump", "+L", path))
		for _, want := range []string{
			"(7fe0,0001) OV 0\\18 ", "ExtendedOffsetTable",
			"(7fe0,0002) OV 10\\28 ", "ExtendedOffsetTableLengths",
			"(fffe,e000) pi 01", "(fffe,e000) pi 03",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("dcmdump lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestVideo: a video is one stream whatever NumberOfFrames says, however
// many fragments carry it.
func TestVideo(t *testing.T) {
	e := explicitLE
	noMark := [][]byte{frag([]byte{1}, 10), frag([]byte{2}, 12), frag([]byte{3}, 16)}
	for _, ts := range []string{"1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.102.1", "1.2.840.10008.1.2.4.107"} {
		t.Run(ts, func(t *testing.T) {
			file := part10(ts, e.withIDs(append(e.image(8, 8, 3, 8, "30"), e.encapsulated(nil, noMark...))...))
			h, err := readBytes(file, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Frames.Frames) != 1 || !bytes.Equal(readRanges(t, file, h.Frames.Frames[0]), bytes.Join(noMark, nil)) {
				t.Errorf("frames %+v, want one stream of every fragment", h.Frames)
			}
		})
	}
	t.Run("no fragments", func(t *testing.T) {
		file := part10("1.2.840.10008.1.2.4.102", e.withIDs(append(e.image(8, 8, 3, 8, "30"), e.encapsulated(nil))...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "video has no fragments")
	})
	for ts, want := range map[string]bool{
		"1.2.840.10008.1.2.4.100": true, "1.2.840.10008.1.2.4.101.1": true, "1.2.840.10008.1.2.4.106.1": true,
		"1.2.840.10008.1.2.4.108": true, "1.2.840.10008.1.2.4.107.1": false, "1.2.840.10008.1.2.4.109": false,
		"1.2.840.10008.1.2.4.91": false, "1.2.840.10008.1.2.4.100.2": false, "1.2.840.10008.1.2.4.1000": false,
	} {
		if IsVideo(ts) != want {
			t.Errorf("IsVideo(%s) = %v", ts, !want)
		}
	}
}
