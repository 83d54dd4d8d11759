package dcm

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzReadHeader checks that no input makes ReadHeader panic, that every
// refusal is an *InvalidError, and that what it accepts is consistent.
func FuzzReadHeader(f *testing.F) {
	for _, name := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm"} {
		b := readReal(f, name)
		f.Add(b[:2048])
		f.Add(b[:700])
	}
	f.Add(readReal(f, "6.dcm"))

	e := explicitLE
	f.Add(e.file(append(e.image(2, 2, 1, 8, ""), e.el(tagPixelData, "OB", make([]byte, 4)))...))
	f.Add(part10("1.2.840.10008.1.2.4.50", e.withIDs(append(e.image(8, 8, 1, 8, "2"),
		e.encapsulated([]uint32{0, 18}, frag([]byte{0xFF, 0xD8}, 10), frag([]byte{0xFF, 0xD8}, 12)))...)))
	f.Add(part10(e.ts(), append(e.withIDs(), append(e.header(0x00420011, "OB", 0xFFFFFFFE), make([]byte, 64)...)...)))
	f.Add(part10(e.ts(), e.withIDs(nested(e, 40, 0x0040A730, "SQ"))))
	f.Add(implicit.file(implicit.str(0x00090010, "LO", "ACME"), nested(implicit, 3, 0x00091010, "UN")))
	f.Add(explicitBE.file(explicitBE.seqDef(0x00081140, explicitBE.itemDef(explicitBE.str(0x00081150, "UI", testClass)))))
	f.Add(e.file(e.str(tagSpecificCharacterSet, "CS", `\ISO 2022 IR 87`), e.str(0x00100010, "PN", "\x1b$B;3ED\x1b(B")))
	f.Add(e.file(append(e.image(65535, 65535, 3, 64, "100000"), e.el(tagPixelData, "OW", make([]byte, 8)))...))
	// Explicit UN with known tags (PS3.5 6.2.2): a sequence of defined and
	// of undefined length, bytes that are not items, a date; GB18030 text
	// without a character set (read with the fuzzed DefaultCharset).
	unSeq := implicit.seqDef(0x00400260, implicit.itemDef(implicit.str(0x00080100, "SH", "T-D4000")))
	f.Add(e.file(e.el(0x00400260, "UN", unSeq[8:]), e.el(0x00400250, "UN", []byte("20240102"))))
	f.Add(append(e.file(e.str(0x00100010, "PN", "\xd5\xc5^\xc8\xfd")), append(e.header(0x00400275, "UN", undefinedLength), implicit.seq(0x00400275, implicit.item(implicit.str(0x00080100, "SH", "X")))[8:]...)...))
	f.Add(e.file(e.el(0x00400260, "UN", []byte{1, 2, 3, 4, 5, 6, 7, 8}), e.str(0x00201041, "DS", "1,5"), e.str(0x00200013, "IS", "1.0")))

	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxHeaderBytes: 4 << 20, MaxInflatedBytes: 16 << 20}
		lim.DefaultCharset = [...]string{"", "GB18030", "ISO_IR 100"}[len(b)%3]
		h, err := readBytes(b, lim)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
			}
			return
		}
		for _, uid := range []string{h.StudyUID, h.SeriesUID, h.SOPUID, h.TransferSyntax} {
			if !ValidUID(uid) {
				t.Fatalf("accepted invalid UID %q", uid)
			}
		}
		if h.SOPClassUID != "" && !ValidUID(h.SOPClassUID) {
			t.Fatalf("accepted invalid SOP class UID %q", h.SOPClassUID)
		}
		if _, err := json.Marshal(h.Dataset); err != nil {
			t.Fatalf("data set does not marshal: %v", err)
		}
		if h.Frames.Deflated {
			return
		}
		inFile := func(r Range) bool { return r.Offset >= 0 && r.Length >= 0 && r.Offset+r.Length <= int64(len(b)) }
		for i, f := range h.Frames.Frames {
			for _, r := range f {
				if !inFile(r) {
					t.Fatalf("frame %d range %+v outside the %d-byte file", i, r, len(b))
				}
			}
		}
		for _, ref := range h.Bulk {
			if !inFile(ref.Range) {
				t.Fatalf("bulk %s range %+v outside the %d-byte file", ref.Path, ref.Range, len(b))
			}
		}
	})
}

// FuzzDataSet fuzzes the data set alone, behind a valid preamble and file
// meta group naming one of the transfer syntaxes, to reach deeper than
// FuzzReadHeader's mutations of whole files usually do.
func FuzzDataSet(f *testing.F) {
	syntaxes := []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, "1.2.840.10008.1.2.4.50"}
	for _, name := range []string{"1.dcm", "3.dcm", "4.dcm"} {
		ds, _ := splitPart10(f, readReal(f, name))
		ts := uint8(0)
		if name == "4.dcm" {
			ts = 1
		}
		f.Add(ds[:min(len(ds), 3000)], ts)
	}
	e := explicitLE
	f.Add(e.withIDs(append(e.image(8, 8, 1, 8, "2"),
		e.encapsulated([]uint32{0, 18}, frag([]byte{0xFF, 0xD8}, 10), frag([]byte{0xFF, 0xD8}, 12)))...), uint8(3))
	f.Add(implicit.withIDs(implicit.str(0x00090010, "LO", "ACME"), nested(implicit, 3, 0x00091010, "UN")), uint8(1))
	be := explicitBE
	f.Add(be.withIDs(be.seqDef(0x00081140, be.itemDef(be.str(0x00081150, "UI", testClass))), be.el(0x00720082, "SV", make([]byte, 8))), uint8(2))
	f.Add(e.withIDs(e.str(tagSpecificCharacterSet, "CS", `\ISO 2022 IR 87`), e.str(0x00100010, "PN", "\x1b$B;3ED\x1b(B")), uint8(0))

	f.Fuzz(func(t *testing.T, ds []byte, ts uint8) {
		b := part10(syntaxes[int(ts)%len(syntaxes)], ds)
		h, err := readBytes(b, Limits{MaxHeaderBytes: 4 << 20})
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
			}
			return
		}
		if !ValidUID(h.StudyUID) || !ValidUID(h.SeriesUID) || !ValidUID(h.SOPUID) {
			t.Fatalf("accepted invalid UIDs %q %q %q", h.StudyUID, h.SeriesUID, h.SOPUID)
		}
		if _, err := json.Marshal(h.Dataset); err != nil {
			t.Fatalf("data set does not marshal: %v", err)
		}
	})
}
