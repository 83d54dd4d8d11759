package dcm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

// These tests build their files with DCMTK's dump2dcm and compare with
// DCMTK's dcm2json reading of the same file (dcmtktest), so that neither
// the bytes nor the expected values come from this package.

// dcmtkDump is the header of a small CT image (no pixel data) in dump2dcm
// syntax, followed by extra lines.
func dcmtkDump(extra ...string) []byte {
	lines := []string{
		`(0008,0016) UI =CTImageStorage`,
		`(0008,0018) UI [1.2.826.0.1.3680043.10.1.1.1]`,
		`(0008,0060) CS [CT]`,
		`(0010,0020) LO [P-0001]`,
		`(0020,000d) UI [1.2.826.0.1.3680043.10.1.1]`,
		`(0020,000e) UI [1.2.826.0.1.3680043.10.1.1.2]`,
	}
	return []byte(strings.Join(append(lines, extra...), "\n") + "\n")
}

// hexValue writes b as a dump2dcm binary value ("32\30\...").
func hexValue(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, `\`)
}

// dcmtkSequence returns the implicit VR little endian encoding DCMTK
// writes for a one-item sequence with tag tg: the whole element (tag,
// length, items), of undefined length when undefined is true.
func dcmtkSequence(t *testing.T, tg string, undefined bool) []byte {
	t.Helper()
	dump := []byte("(" + tg + ") SQ (Sequence)\n" +
		"  (fffe,e000) na (Item)\n" +
		"    (0008,0100) SH [T-D4000]\n" +
		"    (0008,0102) SH [SRT]\n" +
		"    (0008,0104) LO [Abdomen]\n" +
		"  (fffe,e00d) na (ItemDelimitationItem)\n" +
		"(fffe,e0dd) na (SequenceDelimitationItem)\n")
	args := []string{"-F", "+ti"}
	if undefined {
		args = append(args, "-e")
	}
	b, err := os.ReadFile(dcmtktest.Dump2DCM(t, dump, args...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameAsDCMTK compares the DICOM JSON of the given tags with dcm2json's.
func sameAsDCMTK(t *testing.T, ds Dataset, ref map[string]any, tags ...string) {
	t.Helper()
	for _, tg := range tags {
		b, err := json.Marshal(ds[tg])
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ref[tg]) {
			t.Errorf("%s = %s, dcm2json %v", tg, b, ref[tg])
		}
	}
}

func readPath(t *testing.T, path string, lim Limits) (*Header, []byte) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := readBytes(file, lim)
	if err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	return h, file
}

// TestDCMTKExplicitUN: elements a router forwarded as explicit UN take
// their dictionary VR (PS3.5 6.2.2), as DCMTK's dcmconv +uc gives them.
func TestDCMTKExplicitUN(t *testing.T) {
	seq := dcmtkSequence(t, "0040,0260", false)
	path := dcmtktest.Dump2DCM(t, dcmtkDump(
		`(0010,0010) UN `+hexValue([]byte("Wang^Xiaodong")),
		`(0040,0250) UN `+hexValue([]byte("20240102")),
		`(0040,0251) UN `+hexValue([]byte("101530")),
		`(0040,0260) UN `+hexValue(seq[8:]),
	))
	h, file := readPath(t, path, Limits{})
	for tg, vr := range map[string]string{"00100010": "PN", "00400250": "DA", "00400251": "TM", "00400260": "SQ"} {
		if e := h.Dataset[tg]; e == nil || e.VR != vr {
			t.Errorf("%s: %+v, want VR %s", tg, e, vr)
		}
	}
	if got := h.Dataset.PN("00100010").Alphabetic; got != "Wang^Xiaodong" {
		t.Errorf("PatientName %q", got)
	}
	ref := dcmtktest.JSON(t, dcmtktest.Convert(t, path, "+uc"))
	sameAsDCMTK(t, h.Dataset, ref, "00100010", "00400250", "00400251", "00400260")
	if len(h.Warnings) != 0 {
		t.Errorf("warnings %q", h.Warnings)
	}

	t.Run("undefined length", func(t *testing.T) {
		// The sequence goes last (tags ascend): an explicit UN header of
		// undefined length, then DCMTK's implicit VR items.
		useq := dcmtkSequence(t, "0040,0275", true)
		f := append(bytes.Clone(file), explicitLE.header(0x00400275, "UN", undefinedLength)...)
		f = append(f, useq[8:]...)
		p := t.TempDir() + "/undefined.dcm"
		if err := os.WriteFile(p, f, 0o600); err != nil {
			t.Fatal(err)
		}
		h, _ := readPath(t, p, Limits{})
		if e := h.Dataset["00400275"]; e == nil || e.VR != "SQ" || len(e.Value) != 1 {
			t.Fatalf("00400275: %+v, want a one-item SQ", e)
		}
		sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, p), "00400275") // DCMTK reads it as implicit (CP-246)
	})

	t.Run("bytes that are not items", func(t *testing.T) {
		p := dcmtktest.Dump2DCM(t, dcmtkDump(`(0040,0260) UN 01\02\03\04\05\06\07\08\09\0a`))
		h, _ := readPath(t, p, Limits{})
		if e := h.Dataset["00400260"]; e == nil || e.VR != "UN" {
			t.Fatalf("00400260: %+v, want it kept as UN", e)
		}
		sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, p), "00400260")
		if len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "(0040,0260)") || !strings.Contains(h.Warnings[0], "kept as UN") {
			t.Errorf("warnings %q", h.Warnings)
		}
	})
}

// TestDCMTKChineseText: text written in GB18030 or GBK by modalities that
// omit or mislabel (0008,0005) is read as the sender's default, and reads
// as DCMTK reads the same file once labelled as its bytes are.
func TestDCMTKChineseText(t *testing.T) {
	const name, desc = "张^三丰", "胸部CT平扫"
	tests := []struct {
		label       string // (0008,0005) as written; "-" for none
		def         string // Limits.DefaultCharset
		gbk         bool   // write GBK rather than GB18030 bytes
		wantCharset string // Header.Decoding.Charset; "" for zero
	}{
		{"-", "GB18030", false, "GB18030"},
		{"-", "gb18030", false, "GB18030"},
		{"ISO_IR 100", "GB18030", true, "GB18030"}, // GBK bytes under Latin-1
		{"GB2312", "", true, "GB18030"},
		{"gbk", "", true, "GBK"},
		{"ISO-2022-GBK", "", true, "GBK"},
		{" GB 18030", "", false, "GB18030"},
		{" GB18030", "", false, ""},                 // CS spaces around a value are padding
		{"GB18030", "", false, ""},                  // standard: nothing to record
		{"ISO_IR 192", "GB18030", false, "GB18030"}, // not UTF-8: the default
	}
	for _, tc := range tests {
		t.Run(tc.label+"/"+tc.def, func(t *testing.T) {
			enc := gb18030
			if tc.gbk {
				enc = gbk
			}
			lines := []string{`(0008,1030) LO [` + string(enc(t, desc)) + `]`, `(0010,0010) PN [` + string(enc(t, name)) + `]`}
			if tc.label != "-" {
				lines = append(lines, `(0008,0005) CS [`+tc.label+`]`)
			}
			path := dcmtktest.Dump2DCM(t, dcmtkDump(lines...))
			h, _ := readPath(t, path, Limits{DefaultCharset: tc.def})
			if got := h.Dataset.PN("00100010").Alphabetic; got != name {
				t.Errorf("PatientName %q, want %q", got, name)
			}
			term := "GB18030"
			if tc.gbk {
				term = "GBK"
			}
			sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, path, "-i", "(0008,0005)="+term), "00100010", "00081030")
			if h.Decoding.Charset != tc.wantCharset || (tc.wantCharset != "") != (h.Decoding.Note != "") {
				t.Errorf("Decoding %+v, want charset %q", h.Decoding, tc.wantCharset)
			}
		})
	}

	t.Run("unlabelled UTF-8 from a GB18030 sender", func(t *testing.T) {
		path := dcmtktest.Dump2DCM(t, dcmtkDump(`(0010,0010) PN [`+name+`]`))
		h, _ := readPath(t, path, Limits{DefaultCharset: "GB18030"})
		sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, path, "-i", "(0008,0005)=ISO_IR 192"), "00100010")
		if h.Decoding.Charset != "ISO_IR 192" {
			t.Errorf("Decoding %+v, want UTF-8", h.Decoding)
		}
	})

	t.Run("unlabelled UTF-8 from a Latin-1 sender", func(t *testing.T) {
		path := dcmtktest.Dump2DCM(t, dcmtkDump(`(0010,0010) PN [Müller^Renée]`))
		h, _ := readPath(t, path, Limits{DefaultCharset: "ISO_IR 100"})
		sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, path, "-i", "(0008,0005)=ISO_IR 192"), "00100010")
	})

	t.Run("Latin-1 stays Latin-1", func(t *testing.T) {
		latin, err := charmap.ISO8859_1.NewEncoder().String("Müller^Renée")
		if err != nil {
			t.Fatal(err)
		}
		path := dcmtktest.Dump2DCM(t, dcmtkDump(`(0008,0005) CS [ISO_IR 100]`, `(0010,0010) PN [`+latin+`]`))
		h, _ := readPath(t, path, Limits{DefaultCharset: "GB18030"})
		sameAsDCMTK(t, h.Dataset, dcmtktest.JSON(t, path), "00100010")
		if h.Decoding != (Decoding{}) {
			t.Errorf("Decoding %+v, want none", h.Decoding)
		}
	})
}

// TestDCMTKNumbers: IS and DS values the JSON model cannot hold as sent
// are repaired or left out with a warning each; the file keeps them, as
// dcm2json shows.
func TestDCMTKNumbers(t *testing.T) {
	path := dcmtktest.Dump2DCM(t, dcmtkDump(
		`(0018,0050) DS [1,5]`,
		`(0018,0060) DS [abc]`,
		`(0020,0013) IS [1.0]`,
		`(0020,0012) IS [7]`,
	))
	h, _ := readPath(t, path, Limits{})
	ref := dcmtktest.JSON(t, path)
	for tg, want := range map[string]any{"00180050": 1.5, "00200013": 1.0, "00200012": 7.0, "00180060": nil} {
		e := h.Dataset[tg]
		if e == nil {
			t.Errorf("%s dropped", tg)
			continue
		}
		var got any
		if len(e.Value) > 0 {
			got = e.Value[0]
		}
		if got != want {
			t.Errorf("%s = %v, want %v", tg, got, want)
		}
	}
	// The file holds the values as sent.
	for tg, sent := range map[string]string{"00180050": "1,5", "00180060": "abc", "00200013": "1.0"} {
		if v := ref[tg].(map[string]any)["Value"].([]any)[0]; v != sent {
			t.Errorf("dcm2json %s = %v, want %q", tg, v, sent)
		}
	}
	if len(h.Warnings) != 3 {
		t.Errorf("warnings %q, want 3", h.Warnings)
	}
	for _, w := range h.Warnings {
		if strings.Contains(w, "abc") || strings.Contains(w, "1,5") {
			t.Errorf("warning %q quotes a value", w)
		}
	}
}
