package dcm

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

// reencodeDump is a small image whose header exercises what re-encoding
// must get right: nested sequences of defined and undefined length, a
// private block, US/SS elements decided by PixelRepresentation, OW pixel
// data and an empty value.
var reencodeDump = strings.Join([]string{
	`(0008,0016) UI =SecondaryCaptureImageStorage`,
	`(0008,0018) UI [1.2.826.0.1.3680043.10.9.1.3]`,
	`(0008,0060) CS [OT]`,
	`(0008,1032) SQ (Sequence)`,
	`  (fffe,e000) na (Item)`,
	`    (0008,0100) SH [T-D4000]`,
	`    (0008,0104) LO [Abdomen]`,
	`    (0040,a730) SQ (Sequence)`,
	`      (fffe,e000) na (Item)`,
	`        (0040,a010) CS [CONTAINS]`,
	`      (fffe,e00d) na (ItemDelimitationItem)`,
	`    (fffe,e0dd) na (SequenceDelimitationItem)`,
	`  (fffe,e00d) na (ItemDelimitationItem)`,
	`  (fffe,e000) na (Item)`,
	`  (fffe,e00d) na (ItemDelimitationItem)`,
	`(fffe,e0dd) na (SequenceDelimitationItem)`,
	`(0009,0010) LO [ACME 1.0]`,
	`(0009,1001) LO [private value]`,
	`(0010,0010) PN [Li^Min]`,
	`(0010,0020) LO []`,
	`(0020,000d) UI [1.2.826.0.1.3680043.10.9.1]`,
	`(0020,000e) UI [1.2.826.0.1.3680043.10.9.1.2]`,
	`(0028,0002) US 1`,
	`(0028,0004) CS [MONOCHROME2]`,
	`(0028,0010) US 2`,
	`(0028,0011) US 2`,
	`(0028,0100) US 16`,
	`(0028,0101) US 12`,
	`(0028,0102) US 11`,
	`(0028,0103) US 1`,
	`(0028,0106) SS -5`,
	`(0028,0107) SS 300`,
	`(7fe0,0010) OW 0001\fffb\012c\0000`,
}, "\n") + "\n"

// dataSetOf returns a Part 10 file's data set and transfer syntax.
func dataSetOf(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	ts, err := SkipFileMeta(r)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), ts
}

// TestReencode converts between Explicit and Implicit VR Little Endian,
// both ways, and from Deflated Explicit VR Little Endian, and compares
// the data sets byte for byte with what DCMTK's dcmconv writes for the
// same conversion with undefined lengths (-e).
func TestReencode(t *testing.T) {
	explicit := dcmtktest.Dump2DCM(t, []byte(reencodeDump), "+te")
	implicit := dcmtktest.Dump2DCM(t, []byte(reencodeDump), "+ti")
	for _, c := range []struct {
		name, src, to, flag string
	}{
		{"explicit to implicit", explicit, ImplicitVRLittleEndian, "+ti"},
		{"implicit to explicit", implicit, ExplicitVRLittleEndian, "+te"},
		{"explicit to explicit", explicit, ExplicitVRLittleEndian, "+te"},
		{"deflated to explicit", dcmtktest.Convert(t, explicit, "+td"), ExplicitVRLittleEndian, "+te"},
		{"deflated to implicit", dcmtktest.Convert(t, explicit, "+td"), ImplicitVRLittleEndian, "+ti"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, from := dataSetOf(t, c.src)
			var got bytes.Buffer
			if err := Reencode(&got, bytes.NewReader(src), from, c.to); err != nil {
				t.Fatal(err)
			}
			want, ts := dataSetOf(t, dcmtktest.Convert(t, c.src, c.flag, "-e"))
			if ts != c.to {
				t.Fatalf("dcmconv wrote %s, want %s", ts, c.to)
			}
			if a, b := got.Bytes(), want; !bytes.Equal(a, b) {
				i := 0
				for i < len(a) && i < len(b) && a[i] == b[i] {
					i++
				}
				t.Fatalf("re-encoded data set (%d bytes) differs from dcmconv's (%d) at byte %d:\n% x\n% x", len(a), len(b), i,
					a[max(0, i-16):min(len(a), i+24)], b[max(0, i-16):min(len(b), i+24)])
			}
		})
	}
}

// TestReencodeRefuses names the pairs it cannot convert and input that
// does not parse.
func TestReencodeRefuses(t *testing.T) {
	var out bytes.Buffer
	if err := Reencode(&out, strings.NewReader(""), "1.2.840.10008.1.2.4.70", ExplicitVRLittleEndian); !errors.Is(err, ErrNotReencodable) {
		t.Errorf("JPEG Lossless to explicit: %v, want ErrNotReencodable", err)
	}
	if err := Reencode(&out, strings.NewReader(""), ExplicitVRLittleEndian, ExplicitVRBigEndian); !errors.Is(err, ErrNotReencodable) {
		t.Errorf("to big endian: %v, want ErrNotReencodable", err)
	}
	// An element declaring more bytes than follow.
	bad := []byte{0x10, 0x00, 0x10, 0x00, 'P', 'N', 0x20, 0x00, 'L', 'i'}
	if err := Reencode(&out, bytes.NewReader(bad), ExplicitVRLittleEndian, ImplicitVRLittleEndian); err == nil {
		t.Error("truncated element: no error")
	}
	// Sequences nested beyond the bound.
	var deep []byte
	for range maxReencodeDepth + 2 {
		deep = append(deep, 0x08, 0x00, 0x32, 0x10, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff)
	}
	if err := Reencode(&out, bytes.NewReader(deep), ImplicitVRLittleEndian, ExplicitVRLittleEndian); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep nesting: %v", err)
	}
}
