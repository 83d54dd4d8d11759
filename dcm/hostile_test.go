package dcm

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestHugeLength(t *testing.T) {
	// A 4 GB length in a file of about 1 KB.
	for _, tc := range []struct {
		name string
		e    enc
		tag  uint32
		vr   string
	}{
		{"explicit OB", explicitLE, 0x00420011, "OB"},
		{"implicit PN", implicit, 0x00100010, "PN"},
		{"explicit big endian UT", explicitBE, 0x00204000, "UT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			ds := append(e.withIDs(e.str(0x00080060, "CS", "OT")), e.header(tc.tag, tc.vr, 0xFFFFFFFE)...)
			ds = append(ds, bytes.Repeat([]byte{'x'}, 700)...)
			file := part10(e.ts(), ds)
			_, err := readBytes(file, Limits{})
			wantInvalid(t, err, tagString(tc.tag), "declares 4294967294 bytes but only 700 remain")
		})
	}
	t.Run("inside an item", func(t *testing.T) {
		e := explicitLE
		item := append(e.header(tagItem, "", 20), e.header(0x00100010, "PN", 400)...)
		item = append(item, make([]byte, 12)...)
		file := e.file(append(e.header(0x00081140, "SQ", uint32(len(item))), item...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "(0010,0010) declares 400 bytes but only 12 remain in item 00081140/0")
	})
	t.Run("basic offset table", func(t *testing.T) {
		e := explicitLE
		px := append(e.header(tagPixelData, "OB", undefinedLength), e.header(tagItem, "", 0x7FFFFFF0)...)
		file := part10("1.2.840.10008.1.2.4.50", e.withIDs(append(e.image(8, 8, 1, 8, ""), px)...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "(FFFE,E000) declares 2147483632 bytes")
	})
}

// nested builds n levels of sequences, each in an item of the previous.
func nested(e enc, n int, tag uint32, vr string) []byte {
	var b bytes.Buffer
	for range n {
		b.Write(e.header(tag, vr, undefinedLength))
		b.Write(e.header(tagItem, "", undefinedLength))
	}
	for range n {
		b.Write(e.header(tagItemDelimitation, "", 0))
		b.Write(e.header(tagSequenceDelimitation, "", 0))
	}
	return b.Bytes()
}

func TestDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    enc
		tag  uint32
		vr   string
	}{
		{"explicit SQ", explicitLE, 0x0040A730, "SQ"},
		{"implicit SQ", implicit, 0x0040A730, "SQ"},
		{"explicit UN", explicitLE, 0x00091010, "UN"},
		{"implicit private", implicit, 0x00091010, "UN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			levels := func(n int) []byte {
				if tc.vr != "UN" || e.sy.implicit {
					return nested(e, n, tc.tag, tc.vr)
				}
				// An undefined-length UN value is implicit VR inside.
				b := append(e.header(tc.tag, "UN", undefinedLength), implicit.header(tagItem, "", undefinedLength)...)
				b = append(b, nested(implicit, n-1, tc.tag, "UN")...)
				b = append(b, implicit.header(tagItemDelimitation, "", 0)...)
				return append(b, implicit.header(tagSequenceDelimitation, "", 0)...)
			}
			start := time.Now()
			file := part10(e.ts(), e.withIDs(levels(100000)))
			_, err := readBytes(file, Limits{})
			wantInvalid(t, err, "sequence nesting deeper than 32")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			// The limit itself is accepted, one more level is not.
			if _, err := readBytes(part10(e.ts(), e.withIDs(levels(32))), Limits{}); err != nil {
				t.Errorf("32 levels: %v", err)
			}
			_, err = readBytes(part10(e.ts(), e.withIDs(levels(33))), Limits{})
			wantInvalid(t, err, "deeper than 32")
			_, err = readBytes(part10(e.ts(), e.withIDs(levels(8))), Limits{MaxDepth: 7})
			wantInvalid(t, err, "deeper than 7")
		})
	}
	t.Run("defined lengths", func(t *testing.T) {
		e := explicitLE
		b := e.str(0x00100010, "PN", "x")
		for range 1000 {
			b = e.seqDef(0x0040A730, e.itemDef(b))
		}
		_, err := readBytes(part10(e.ts(), e.withIDs(b)), Limits{})
		wantInvalid(t, err, "deeper than 32")
	})
}

// TestTruncated cuts real files at many positions: each cut either fails
// with an *InvalidError or, when it falls between two top-level elements,
// reads as the elements before it.
func TestTruncated(t *testing.T) {
	for _, tc := range []struct {
		name string
		step int
	}{{"3.dcm", 1}, {"6.dcm", 1}, {"1.dcm", 3}, {"5.dcm", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			file := readReal(t, tc.name)
			full := mustRead(t, file)
			fullJSON := map[string]string{}
			for k, e := range full.Dataset {
				b, _ := json.Marshal(e)
				fullJSON[k] = string(b)
			}
			end, complete := len(file), len(file)
			if full.Frames.Deflated {
				// The file has a few bytes after the deflate stream; cuts
				// there lose nothing.
				r := bytes.NewReader(file[full.Frames.DeflateStart:])
				if _, err := io.Copy(io.Discard, flate.NewReader(r)); err != nil {
					t.Fatal(err)
				}
				complete = len(file) - r.Len()
			} else {
				// Up to a little into the pixel data, then a few cuts in it.
				end = int(full.Frames.Frames[0][0].Offset) + 64
			}
			cuts := []int{len(file) - 1, len(file) - 2, (end + len(file)) / 2}
			for n := 0; n < end; n += tc.step {
				cuts = append(cuts, n)
			}
			ok := 0
			for _, n := range cuts {
				h, err := readBytes(file[:n], Limits{})
				if err != nil {
					var ie *InvalidError
					if !errors.As(err, &ie) {
						t.Fatalf("cut at %d: %v is not an *InvalidError", n, err)
					}
					continue
				}
				ok++
				for k, e := range h.Dataset {
					b, _ := json.Marshal(e)
					if fullJSON[k] != string(b) {
						t.Errorf("cut at %d: %s = %s, want %s", n, k, b, fullJSON[k])
					}
				}
				if n < complete && len(h.Dataset) >= len(full.Dataset) {
					t.Errorf("cut at %d: read all %d elements", n, len(h.Dataset))
				}
			}
			t.Logf("%d cuts, %d between top-level elements", len(cuts), ok)
		})
	}
}

// withUID is a file whose element t (a UID) is uid.
func withUID(t uint32, uid string) []byte {
	e := explicitLE
	var el [][]byte
	for _, b := range e.ids() {
		if e.bo().Uint16(b) == uint16(t>>16) && e.bo().Uint16(b[2:]) == uint16(t) {
			b = e.str(t, "UI", uid)
		}
		el = append(el, b)
	}
	return part10(ExplicitVRLittleEndian, e.dataSet(el...))
}

func TestBadStructure(t *testing.T) {
	e := explicitLE
	valid := e.file()
	tests := []struct {
		name   string
		file   []byte
		errHas []string
	}{
		{"empty", nil, []string{"too short"}},
		{"no DICM", append(make([]byte, 128), bytes.Repeat([]byte("DICX"), 100)...), []string{"DICM"}},
		{"no file meta", append(append(make([]byte, 128), "DICM"...), e.withIDs()...), []string{"no file meta"}},
		{"no transfer syntax", func() []byte {
			b := append(make([]byte, 128), "DICM"...)
			b = append(b, e.str(0x00020002, "UI", testClass)...)
			return append(b, e.withIDs()...)
		}(), []string{"no TransferSyntaxUID"}},
		{"invalid transfer syntax", part10("1.2.840.10008.1.2.x", e.withIDs()), []string{"TransferSyntaxUID", "not a valid UID"}},
		{"meta ends early", valid[:150], []string{"file meta"}},
		{"missing SOPInstanceUID", part10(ExplicitVRLittleEndian, e.dataSet(
			e.str(tagStudyInstanceUID, "UI", testStudy), e.str(tagSeriesInstanceUID, "UI", testSeries))),
			[]string{"missing SOPInstanceUID (0008,0018)"}},
		{"missing StudyInstanceUID", part10(ExplicitVRLittleEndian, e.dataSet(
			e.str(tagSOPInstanceUID, "UI", testSOP), e.str(tagSeriesInstanceUID, "UI", testSeries))),
			[]string{"missing StudyInstanceUID"}},
		{"no data set", part10(ExplicitVRLittleEndian, nil), []string{"missing"}},
		{"UID with letters", withUID(tagStudyInstanceUID, "1.2.3.abc"), []string{"StudyInstanceUID", "not a valid UID"}},
		{"UID path", withUID(tagSeriesInstanceUID, "../../etc/passwd"), []string{"SeriesInstanceUID", "not a valid UID"}},
		{"UID leading zero", withUID(tagSOPInstanceUID, "1.2.03"), []string{"SOPInstanceUID"}},
		{"UID too long", withUID(tagSOPInstanceUID, "1."+strings.Repeat("2", 63)), []string{"SOPInstanceUID"}},
		{"two UIDs", withUID(tagStudyInstanceUID, testStudy+`\`+testStudy), []string{"StudyInstanceUID", "2 values"}},
		{"bad SOP class", withUID(tagSOPClassUID, "1.2.x"), []string{"SOPClassUID"}},
		{"item outside a sequence", e.file(e.item()), []string{"unexpected (FFFE,E000)"}},
		{"element in a sequence", e.file(e.seq(0x00081140, e.str(0x00100010, "PN", "x"))), []string{"(0010,0010) found in sequence (0008,1140)"}},
		{"delimiter with a length", e.file(append(e.header(0x00081140, "SQ", undefinedLength), e.header(tagSequenceDelimitation, "", 4)...)), []string{"length 4"}},
		{"unknown VR", e.file(append(e.tag(nil, 0x00100010), 'Z', 'Z', 0, 0)), []string{`unknown VR "ZZ"`}},
		{"short VR with 0xFFFF", e.file(e.header(0x00100010, "PN", 0xFFFF)), []string{"0xFFFF"}},
		{"odd US", e.file(append(e.header(tagRows, "US", 3), 1, 0, 0, 0)), []string{"VR US has length 3"}},
		{"undefined UT", e.file(e.header(0x00204000, "UT", undefinedLength)), []string{"undefined length"}},
		{"pixel data SQ", e.file(e.seq(tagPixelData)), []string{"pixel data (7FE0,0010) has VR SQ"}},
		{"item crosses its sequence", e.file(append(e.header(0x00081140, "SQ", 8), e.header(tagItem, "", 8)...)), []string{"declares 8 bytes but only 0 remain"}},
		{"ends inside a sequence", part10(ExplicitVRLittleEndian, append(e.withIDs(), e.header(0x00401001, "SQ", undefinedLength)...)),
			[]string{"file ends inside sequence (0040,1001)"}},
		{"ends inside an item", part10(ExplicitVRLittleEndian, append(e.withIDs(), append(e.header(0x00401001, "SQ", undefinedLength), e.header(tagItem, "", undefinedLength)...)...)),
			[]string{"file ends inside item 00401001/0"}},
		{"encapsulated item of undefined length", part10("1.2.840.10008.1.2.4.50", e.withIDs(append(e.image(8, 8, 1, 8, ""),
			append(e.header(tagPixelData, "OB", undefinedLength), e.header(tagItem, "", undefinedLength)...))...)), []string{"undefined length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readBytes(tc.file, Limits{})
			wantInvalid(t, err, tc.errHas...)
		})
	}
	t.Run("pixel data twice", func(t *testing.T) {
		px := e.el(tagPixelData, "OB", make([]byte, 2))
		file := part10(ExplicitVRLittleEndian, bytes.Join(append(append(e.ids(), e.image(1, 2, 1, 8, "")...), px, px), nil))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "pixel data appears twice")
	})
}

func TestInvalidErrorMessage(t *testing.T) {
	err := error(&InvalidError{Reason: "sequence nesting deeper than 32"})
	if !strings.HasPrefix(err.Error(), "invalid DICOM: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}
