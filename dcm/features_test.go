package dcm

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strconv"
	"testing"
)

// image returns the image pixel attributes of a test image.
func (e enc) image(rows, cols, spp, bits uint16, frames string) [][]byte {
	el := [][]byte{
		e.us(tagSamplesPerPixel, spp),
		e.us(tagRows, rows),
		e.us(tagColumns, cols),
		e.us(tagBitsAllocated, bits),
	}
	if frames != "" {
		el = append(el, e.str(tagNumberOfFrames, "IS", frames))
	}
	return el
}

// encapsulated encodes PixelData as a basic offset table and fragments.
func (e enc) encapsulated(bot []uint32, frags ...[]byte) []byte {
	b := e.header(tagPixelData, "OB", undefinedLength)
	var t []byte
	for _, o := range bot {
		t = e.bo().AppendUint32(t, o)
	}
	b = append(append(b, e.header(tagItem, "", uint32(len(t)))...), t...)
	for _, f := range frags {
		b = append(append(b, e.header(tagItem, "", uint32(len(f)))...), f...)
	}
	return append(b, e.header(tagSequenceDelimitation, "", 0)...)
}

func frag(head []byte, n int) []byte {
	b := append([]byte{}, head...)
	for len(b) < n {
		b = append(b, byte(len(b)*7))
	}
	return b
}

func TestEncapsulated(t *testing.T) {
	const jpeg = "1.2.840.10008.1.2.4.50"
	e := explicitLE
	soi := []byte{0xFF, 0xD8}
	soc := []byte{0xFF, 0x4F}
	a0, b0, a1, b1 := frag(soi, 20), frag(nil, 14), frag(soi, 30), frag(nil, 6)
	noMark := [][]byte{frag([]byte{1}, 10), frag([]byte{2}, 12), frag([]byte{3}, 16)}

	tests := []struct {
		name   string
		frames string
		bot    []uint32
		frags  [][]byte
		want   [][]int // fragment indexes of each frame
		errHas string
	}{
		{name: "one fragment per frame", frames: "3", frags: noMark, want: [][]int{{0}, {1}, {2}}},
		{name: "basic offset table", frames: "2", bot: []uint32{0, uint32(8 + 20 + 8 + 14)}, frags: [][]byte{a0, b0, a1}, want: [][]int{{0, 1}, {2}}},
		{name: "basic offset table without markers", frames: "2", bot: []uint32{0, 8 + 10}, frags: noMark, want: [][]int{{0}, {1, 2}}},
		{name: "JPEG markers", frames: "2", frags: [][]byte{a0, b0, a1, b1}, want: [][]int{{0, 1}, {2, 3}}},
		{name: "JPEG 2000 markers", frames: "2", frags: [][]byte{frag(soc, 8), frag(soc, 8), b1}, want: [][]int{{0}, {1, 2}}},
		{name: "single frame, several fragments", frags: noMark, want: [][]int{{0, 1, 2}}},
		{name: "unsplittable", frames: "2", frags: noMark, errHas: "cannot split 3 fragments into 2 frames"},
		{name: "too few fragments", frames: "4", frags: noMark, errHas: "3 fragments for 4 frames"},
		{name: "bad offset table", frames: "2", bot: []uint32{0, 5}, frags: noMark, errHas: "basic offset table entry 1"},
		{name: "bad offset table, markers", frames: "2", bot: []uint32{0, 5}, frags: [][]byte{a0, b0, a1}, want: [][]int{{0, 1}, {2}}},
		{name: "no fragments", frags: nil, errHas: "no fragments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			px := e.encapsulated(tc.bot, tc.frags...)
			file := part10(jpeg, e.withIDs(append(e.image(8, 8, 1, 8, tc.frames), px)...))
			h, err := readBytes(file, Limits{})
			if tc.errHas != "" {
				wantInvalid(t, err, tc.errHas)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.Frames.Encapsulated || len(h.Frames.Frames) != len(tc.want) {
				t.Fatalf("frames = %+v, want %d encapsulated frames", h.Frames, len(tc.want))
			}
			for i, idx := range tc.want {
				var want []byte
				for _, j := range idx {
					want = append(want, tc.frags[j]...)
				}
				if got := readRanges(t, file, h.Frames.Frames[i]); !bytes.Equal(got, want) {
					t.Errorf("frame %d = % x, want % x", i, got, want)
				}
				if len(h.Frames.Frames[i]) != len(idx) {
					t.Errorf("frame %d has %d ranges, want %d", i, len(h.Frames.Frames[i]), len(idx))
				}
			}
			// The PixelData bulk range is every item after the header, up
			// to the sequence delimiter.
			pxStart := bytes.LastIndex(file, px)
			want := Range{Offset: int64(pxStart + 12), Length: int64(len(px) - 12 - 8)}
			if len(h.Bulk) != 1 || h.Bulk[0] != (BulkRef{Path: "7FE00010", Range: want}) {
				t.Errorf("Bulk = %+v, want [{7FE00010 %+v}]", h.Bulk, want)
			}
			if uri := h.Dataset["7FE00010"]; uri == nil || uri.BulkDataURI != "7FE00010" || uri.VR != "OB" {
				t.Errorf("PixelData element = %+v", uri)
			}
		})
	}

	t.Run("encapsulated under a native syntax", func(t *testing.T) {
		file := part10(ExplicitVRLittleEndian, e.withIDs(append(e.image(8, 8, 1, 8, ""), e.encapsulated(nil, a0))...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "encapsulated", ExplicitVRLittleEndian)
	})
	t.Run("native under an encapsulated syntax", func(t *testing.T) {
		file := part10(jpeg, e.withIDs(append(e.image(2, 2, 1, 8, ""), e.el(tagPixelData, "OB", make([]byte, 4)))...))
		_, err := readBytes(file, Limits{})
		wantInvalid(t, err, "needs encapsulated")
	})
}

func TestNativeFrames(t *testing.T) {
	e := explicitLE
	tests := []struct {
		name                  string
		rows, cols, spp, bits uint16
		frames                string
		pixelBytes            int
		want                  []Range // relative to the value offset
		errHas                []string
	}{
		{name: "16-bit", rows: 2, cols: 3, spp: 1, bits: 16, frames: "2", pixelBytes: 24, want: []Range{{0, 12}, {12, 12}}},
		{name: "RGB", rows: 2, cols: 2, spp: 3, bits: 8, pixelBytes: 12, want: []Range{{0, 12}}},
		{name: "odd length padded", rows: 3, cols: 3, spp: 1, bits: 8, pixelBytes: 10, want: []Range{{0, 9}}},
		{name: "1-bit byte-aligned frames", rows: 8, cols: 8, spp: 1, bits: 1, frames: "2", pixelBytes: 16, want: []Range{{0, 8}, {8, 8}}},
		{name: "1-bit packed frames", rows: 3, cols: 3, spp: 1, bits: 1, frames: "2", pixelBytes: 4, want: []Range{{0, 3}}},
		{name: "length mismatch", rows: 4, cols: 4, spp: 1, bits: 16, pixelBytes: 30, errHas: []string{"pixel data has 30 bytes", "needs 32"}},
		{name: "too long", rows: 2, cols: 2, spp: 1, bits: 8, pixelBytes: 6, errHas: []string{"needs 4"}},
		{name: "zero rows", rows: 0, cols: 4, spp: 1, bits: 8, pixelBytes: 4, errHas: []string{"Rows is 0"}},
		{name: "zero frames", rows: 2, cols: 2, spp: 1, bits: 8, frames: "0", pixelBytes: 4, errHas: []string{"NumberOfFrames"}},
		{name: "negative frames", rows: 2, cols: 2, spp: 1, bits: 8, frames: "-3", pixelBytes: 4, errHas: []string{"NumberOfFrames"}},
		{name: "too many frames", rows: 2, cols: 2, spp: 1, bits: 8, frames: "100001", pixelBytes: 4, errHas: []string{"NumberOfFrames"}},
		// A NumberOfFrames that is not a number has no value: one frame.
		{name: "frames not a number", rows: 2, cols: 2, spp: 1, bits: 8, frames: "x", pixelBytes: 4, want: []Range{{0, 4}}},
		{name: "12 bits allocated", rows: 2, cols: 2, spp: 1, bits: 12, pixelBytes: 6, errHas: []string{"BitsAllocated"}},
		{name: "5 samples", rows: 2, cols: 2, spp: 5, bits: 8, pixelBytes: 20, errHas: []string{"SamplesPerPixel 5"}},
		{name: "huge", rows: 65535, cols: 65535, spp: 4, bits: 64, frames: "100000", pixelBytes: 1000,
			errHas: []string{"Rows 65535 × Columns 65535 × SamplesPerPixel 4 × BitsAllocated 64 × NumberOfFrames 100000 needs 13743475920000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			px := e.el(tagPixelData, "OW", make([]byte, tc.pixelBytes))
			file := e.file(append(e.image(tc.rows, tc.cols, tc.spp, tc.bits, tc.frames), px)...)
			h, err := readBytes(file, Limits{})
			if tc.errHas != nil {
				wantInvalid(t, err, tc.errHas...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			off := int64(bytes.LastIndex(file, px) + 12)
			var want [][]Range
			for _, r := range tc.want {
				want = append(want, []Range{{Offset: off + r.Offset, Length: r.Length}})
			}
			if !reflect.DeepEqual(h.Frames.Frames, want) {
				t.Errorf("frames = %v, want %v", h.Frames.Frames, want)
			}
		})
	}
}

func TestMulOverflow(t *testing.T) {
	if _, ok := mul(65535, 65535, 4, 64, 100000); !ok {
		t.Error("largest accepted image overflowed")
	}
	for _, v := range [][]uint64{{1 << 32, 1 << 31}, {1 << 62, 4}, {3, 1 << 63}} {
		if _, ok := mul(v...); ok {
			t.Errorf("mul(%v) did not report overflow", v)
		}
	}
}

func TestBigEndian(t *testing.T) {
	e := explicitBE
	pixels := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	sv := e.bo().AppendUint64(nil, uint64(0xFFFFFFFFFFFFFFFE)) // -2
	uv := e.bo().AppendUint64(e.bo().AppendUint64(nil, 7), 1<<60)
	fl := e.bo().AppendUint32(nil, 0x3FC00000) // 1.5
	at := e.bo().AppendUint16(e.bo().AppendUint16(nil, 0x0010), 0x0020)
	ss := e.bo().AppendUint16(nil, 0xFFFF)
	file := e.file(append(e.image(2, 2, 1, 16, ""),
		e.el(0x00281041, "SS", ss), // PixelIntensityRelationshipSign
		e.el(0x00189219, "FL", fl), // TagThickness? any FL tag
		e.el(0x00209165, "AT", at), // DimensionIndexPointer
		e.el(0x00720082, "SV", sv), // SelectorSVValue
		e.el(0x00720083, "UV", uv), // SelectorUVValue
		e.el(0x00283006, "OW", []byte{1, 2, 3, 4}),
		e.str(0x00100010, "PN", "Doe^John"),
		e.el(tagPixelData, "OW", pixels),
	)...)
	h := mustRead(t, file)
	ds := h.Dataset
	check := func(tag string, want ...any) {
		t.Helper()
		if got := ds[tag]; got == nil || !reflect.DeepEqual(got.Value, want) {
			t.Errorf("%s = %+v, want %v", tag, got, want)
		}
	}
	check("00280010", 2.0)
	check("00281041", -1.0)
	check("00189219", 1.5)
	check("00209165", "00100020")
	check("00720082", -2.0)
	check("00720083", 7.0, strconv.FormatUint(1<<60, 10))
	check("00100010", PersonName{Alphabetic: "Doe^John"})
	if got := ds["00283006"].InlineBinary; got != base64.StdEncoding.EncodeToString([]byte{2, 1, 4, 3}) {
		t.Errorf("OW InlineBinary = %s, want little endian words", got)
	}
	off := int64(bytes.Index(file, pixels))
	if !reflect.DeepEqual(h.Frames.Frames, [][]Range{{{Offset: off, Length: 8}}}) {
		t.Errorf("frames = %v, want the stored big endian bytes at %d", h.Frames.Frames, off)
	}
}

func TestImplicitPrivate(t *testing.T) {
	e := implicit
	inner := e.item(e.str(0x00091001, "LO", "x"))
	big := make([][]byte, 0, 60)
	for range 60 {
		big = append(big, e.item(e.el(0x00091001, "UN", make([]byte, 30))))
	}
	privSeq := func(t uint32, items ...[]byte) []byte {
		b := e.header(t, "UN", undefinedLength)
		b = append(b, bytes.Join(items, nil)...)
		return append(b, e.header(tagSequenceDelimitation, "", 0)...)
	}
	file := e.file(
		e.str(0x00090010, "LO", "ACME 1.0"),
		e.el(0x00091000, "UN", []byte{1, 2, 3, 4}),
		privSeq(0x00091002, inner),
		privSeq(0x00091003, big...),
		e.str(0x00100010, "PN", "Doe^Jane"),
	)
	h := mustRead(t, file)
	ds := h.Dataset
	if got := ds["00090010"]; got == nil || got.VR != "LO" || ds.String("00090010") != "ACME 1.0" {
		t.Errorf("private creator = %+v, want LO ACME 1.0", got)
	}
	if got := ds["00091000"]; got == nil || got.VR != "UN" || got.InlineBinary != base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4}) {
		t.Errorf("private UN = %+v", got)
	}
	if got := ds["00091002"]; got == nil || got.VR != "UN" || got.InlineBinary != base64.StdEncoding.EncodeToString(inner) {
		t.Errorf("small private sequence = %+v, want UN with the items inline", got)
	}
	got := ds["00091003"]
	if got == nil || got.VR != "UN" || got.BulkDataURI != "00091003" {
		t.Fatalf("large private sequence = %+v, want UN bulk", got)
	}
	all := bytes.Join(big, nil)
	want := Range{Offset: int64(bytes.Index(file, all)), Length: int64(len(all))}
	if len(h.Bulk) != 1 || h.Bulk[0].Range != want {
		t.Errorf("Bulk = %+v, want %+v", h.Bulk, want)
	}
	if ds.String("00100010") != "Doe^Jane" {
		t.Errorf("element after the private sequences: %+v", ds["00100010"])
	}
}

func TestBulkPaths(t *testing.T) {
	for _, e := range []enc{explicitLE, implicit, explicitBE} {
		t.Run(e.ts(), func(t *testing.T) {
			icon := bytes.Repeat([]byte{1, 2}, 1000)
			palette := e.bo().AppendUint16(e.bo().AppendUint16(nil, 9), 8)
			doc := bytes.Repeat([]byte("%PDF"), 500)
			file := e.file(
				// Defined lengths: the library sees them fixed up.
				e.seqDef(0x00880200, // IconImageSequence
					e.itemDef(e.us(tagRows, 40), e.us(tagColumns, 25), e.str(0x00280004, "CS", "MONOCHROME2"), e.el(tagPixelData, "OW", icon)),
					e.itemDef(e.us(0x00281101, 2, 0, 16), e.el(0x00281201, "OW", palette)),
				),
				e.seq(0x0040A730, // ContentSequence
					e.item(e.str(0x0040A010, "CS", "CONTAINS")),
					e.item(e.seqDef(0x0040A730, e.itemDef(), e.itemDef(e.el(0x00420011, "OB", doc), e.str(0x00420012, "LO", "application/pdf")))),
				),
				e.str(0x00100020, "LO", "PID-1"),
			)
			h := mustRead(t, file)
			want := map[string][]byte{"00880200/0/7FE00010": icon, "0040A730/1/0040A730/1/00420011": doc}
			if len(h.Bulk) != len(want) {
				t.Fatalf("Bulk = %+v", h.Bulk)
			}
			for _, b := range h.Bulk {
				if !bytes.Equal(readRanges(t, file, []Range{b.Range}), want[b.Path]) {
					t.Errorf("bulk %s does not point at its value", b.Path)
				}
			}
			items := h.Dataset["00880200"].Value
			icon0, icon1 := items[0].(Dataset), items[1].(Dataset)
			if icon0["7FE00010"].BulkDataURI != "00880200/0/7FE00010" || icon0.String("00280004") != "MONOCHROME2" {
				t.Errorf("icon item 0 = %+v", icon0)
			}
			if got := icon1["00281201"].InlineBinary; got != base64.StdEncoding.EncodeToString([]byte{9, 0, 8, 0}) {
				t.Errorf("palette data = %s, want little endian words 9, 8", got)
			}
			if got := icon1.Strings("00281101"); !reflect.DeepEqual(got, []string{"2", "0", "16"}) {
				t.Errorf("palette descriptor = %v", got)
			}
			nested := h.Dataset["0040A730"].Value[1].(Dataset)["0040A730"].Value
			if len(nested) != 2 || len(nested[0].(Dataset)) != 0 {
				t.Fatalf("nested content = %+v", nested)
			}
			if d := nested[1].(Dataset); d["00420011"].BulkDataURI != "0040A730/1/0040A730/1/00420011" || d.String("00420012") != "application/pdf" {
				t.Errorf("nested item = %+v", d)
			}
			if h.Dataset.String("00100020") != "PID-1" {
				t.Errorf("PatientID after the sequences = %+v", h.Dataset["00100020"])
			}
		})
	}
}

func TestLimitsInline(t *testing.T) {
	e := explicitLE
	file := e.file(e.el(0x00420011, "OB", make([]byte, 10)))
	for _, tc := range []struct {
		max  int
		bulk bool
	}{{0, false}, {10, false}, {9, true}, {-1, true}} {
		h, err := readBytes(file, Limits{InlineBinaryMax: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		el := h.Dataset["00420011"]
		if (el.BulkDataURI != "") != tc.bulk || (el.InlineBinary != "") == tc.bulk {
			t.Errorf("InlineBinaryMax %d: element %+v, want bulk=%v", tc.max, el, tc.bulk)
		}
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	e := explicitLE
	file := e.file(e.el(0x00204000, "LT", bytes.Repeat([]byte("a"), 10000)))
	if _, err := readBytes(file, Limits{}); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	_, err := readBytes(file, Limits{MaxHeaderBytes: 8000})
	wantInvalid(t, err, "MaxHeaderBytes")

	// Many empty elements count too.
	var many [][]byte
	for i := range 20000 {
		many = append(many, e.str(0x00090000|uint32(0x1000+i%0xE000), "LO", ""))
	}
	_, err = readBytes(part10(ExplicitVRLittleEndian, e.withIDs(many...)), Limits{MaxHeaderBytes: 1 << 20})
	wantInvalid(t, err, "MaxHeaderBytes")
}

func TestPreambleNonZero(t *testing.T) {
	file := explicitLE.file()
	if mustRead(t, file).PreambleNonZero {
		t.Error("zero preamble reported non-zero")
	}
	file[5] = 'M'
	if !mustRead(t, file).PreambleNonZero {
		t.Error("non-zero preamble not reported")
	}
}

func TestDeflatedLimits(t *testing.T) {
	file := readReal(t, "6.dcm")
	_, err := readBytes(file, Limits{MaxInflatedBytes: 100000})
	wantInvalid(t, err, "inflated")

	_, start := splitPart10(t, file)
	bad := bytes.Clone(file)
	for i := start + 10; i < start+40; i++ {
		bad[i] ^= 0x5A
	}
	_, err = readBytes(bad, Limits{})
	wantInvalid(t, err)
}

func TestDuplicateElement(t *testing.T) {
	e := explicitLE
	file := part10(ExplicitVRLittleEndian, bytes.Join(append(e.ids(), e.str(0x00100010, "PN", "A"), e.str(0x00100010, "PN", "B")), nil))
	_, err := readBytes(file, Limits{})
	wantInvalid(t, err, "(0010,0010) appears twice")
}

func TestEmptyAndMultiValues(t *testing.T) {
	e := explicitLE
	h := mustRead(t, e.file(
		e.str(0x00080008, "CS", `ORIGINAL\PRIMARY\\AXIAL`),
		e.str(0x00200032, "DS", ` -12.5\+3\1e2 `),
		e.str(0x00200013, "IS", "  42 "),
		e.str(0x00181030, "LO", ""),
		e.str(0x00204000, "LT", `a\b  `),
		e.str(0x00280030, "DS", `0.5\`),
		e.el(0x00100020, "LO", []byte{'I', 'D', 0}),
	))
	ds := h.Dataset
	for tag, want := range map[string][]any{
		"00080008": {"ORIGINAL", "PRIMARY", nil, "AXIAL"},
		"00200032": {-12.5, 3.0, 100.0},
		"00200013": {42.0},
		"00181030": nil,
		"00204000": {`a\b`},
		"00280030": {0.5, nil},
		"00100020": {"ID"},
	} {
		if got := ds[tag]; got == nil || !reflect.DeepEqual(got.Value, want) {
			t.Errorf("%s = %+v, want %#v", tag, got, want)
		}
	}
	if n, ok := ds.Int("00200013"); !ok || n != 42 {
		t.Errorf("Int(InstanceNumber) = %d, %v", n, ok)
	}
}
