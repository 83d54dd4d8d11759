package dcm

import (
	"bytes"
	"testing"
)

// TestRewriteHead rewrites a head with a nested undefined-length sequence
// and an undefined-length UN (implicit inside): the transfer syntax and
// group length change, the edits apply, every other byte is kept, and the
// result reads back.
func TestRewriteHead(t *testing.T) {
	e := explicitLE
	nested := e.seq(0x00400275, e.item(e.str(0x00080100, "SH", "X1"), e.seq(0x00081110, e.item(e.str(0x00081150, "UI", "1.2")))))
	un := append(e.header(0x00091010, "UN", undefinedLength), implicit.seq(0x00091010, implicit.item(implicit.str(0x00091001, "LO", "private")))[8:]...)
	file := e.file(e.str(0x00080060, "CS", "CT"), nested, un, e.str(0x00280004, "CS", "YBR_FULL_422"),
		e.str(0x00280010, "US", "\x02\x00"), e.str(0x7FE00001, "OV", "\x00\x00\x00\x00\x00\x00\x00\x00"))
	out, err := RewriteHead(file, HeadEdit{
		TransferSyntax: "1.2.840.10008.1.2.1",
		Set: []RawElement{
			{Tag: TagPhotometric, VR: "CS", Value: []byte("RGB")},
			{Tag: TagPlanarConfiguration, VR: "US", Value: []byte{0, 0}},
		},
		Drop: []uint32{TagExtendedOffsetTable},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(bytes.NewReader(out), int64(len(out)), Limits{})
	if err != nil {
		t.Fatalf("the rewritten head does not read: %v", err)
	}
	if h.TransferSyntax != "1.2.840.10008.1.2.1" || h.Dataset.String("00280004") != "RGB" || h.Dataset.String("00080060") != "CT" {
		t.Errorf("ts %s, photometric %q, modality %q", h.TransferSyntax, h.Dataset.String("00280004"), h.Dataset.String("00080060"))
	}
	if v, ok := h.Dataset.Int("00280006"); !ok || v != 0 {
		t.Errorf("PlanarConfiguration %v %v, want 0 added", v, ok)
	}
	if _, ok := h.Dataset["7FE00001"]; ok {
		t.Error("the extended offset table was kept")
	}
	if !bytes.Contains(out, nested) || !bytes.Contains(out, un) {
		t.Error("the sequences were not copied byte for byte")
	}
}

// FuzzRewriteHead: any bytes give a head or an error, never a panic.
func FuzzRewriteHead(f *testing.F) {
	e := explicitLE
	f.Add(e.file(e.seq(0x00400275, e.item(e.str(0x00080100, "SH", "X1")))))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = RewriteHead(b, HeadEdit{TransferSyntax: "1.2.840.10008.1.2.1", Drop: []uint32{TagIconImageSequence}})
	})
}
