package dcm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// spliceElement replaces the explicit VR little endian element t (a short
// VR) in the top level of a real file by one with value v.
func spliceElement(t *testing.T, file []byte, tg uint32, vr string, v []byte) []byte {
	t.Helper()
	ds, start := splitPart10(t, file)
	pat := explicitLE.tag(nil, tg)
	pat = append(pat, vr...)
	if n := bytes.Count(ds, pat); n != 1 {
		t.Fatalf("%s %s occurs %d times", tagString(tg), vr, n)
	}
	i := start + bytes.Index(ds, pat)
	old := int(binary.LittleEndian.Uint16(file[i+6:]))
	out := append([]byte{}, file[:i]...)
	out = append(out, explicitLE.el(tg, vr, v)...)
	return append(out, file[i+8+old:]...)
}

// realWithText is 3.dcm (explicit VR little endian, a real MR image) with
// its SpecificCharacterSet, PatientName and StudyDescription replaced.
func realWithText(t *testing.T, charset string, name, desc []byte) *Header {
	t.Helper()
	file := readReal(t, "3.dcm")
	file = spliceElement(t, file, tagSpecificCharacterSet, "CS", []byte(charset))
	file = spliceElement(t, file, 0x00100010, "PN", name)
	file = spliceElement(t, file, 0x00081030, "LO", desc)
	return mustRead(t, file)
}

func gb18030(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gbk(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCharsetsInRealFile(t *testing.T) {
	tests := []struct {
		name, charset string
		pn, desc      []byte
		want          PersonName
		wantDesc      string
	}{
		{"UTF-8", "ISO_IR 192", []byte("Zhang^Wei=张^伟="), []byte("头部 CT"),
			PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, "头部 CT"},
		{"UTF-8 ideographic only", "ISO_IR 192", []byte("张^伟"), []byte("x"),
			PersonName{Alphabetic: "张^伟"}, "x"},
		{"GB18030", "GB18030", append([]byte("Zhang^Wei="), gb18030(t, "张^伟")...), gb18030(t, "头部 CT"),
			PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, "头部 CT"},
		// In GBK, 乗 is 81 5C: its second byte is a backslash.
		{"GBK backslash byte", "GBK", gbk(t, "乗^俓"), gbk(t, "嘰部"),
			PersonName{Alphabetic: "乗^俓"}, "嘰部"},
		{"Latin-1", "ISO_IR 100", []byte("M\xfcller^J\xfcrgen"), []byte("Sch\xe4del"),
			PersonName{Alphabetic: "Müller^Jürgen"}, "Schädel"},
		{"Cyrillic", "ISO_IR 144", []byte("\xbb\xee\xda\xe8\xd8\xdd^\xbd\xd8\xda\xde\xdb\xd0\xd9"), []byte("x"),
			PersonName{Alphabetic: "Люкшин^Николай"}, "x"},
		// PS3.5 H.3.1: Japanese with ISO 2022 escapes.
		{"ISO 2022 Japanese", `\ISO 2022 IR 87`,
			[]byte("Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"), []byte("x"),
			PersonName{Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう"}, "x"},
		// PS3.5 I.2: Korean.
		{"ISO 2022 Korean", `\ISO 2022 IR 149`,
			[]byte("Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf"), []byte("x"),
			PersonName{Alphabetic: "Hong^Gildong", Ideographic: "洪^吉洞", Phonetic: "홍^길동"}, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := realWithText(t, tc.charset, tc.pn, tc.desc)
			if got := h.Dataset.PN("00100010"); got != tc.want {
				t.Errorf("PatientName = %+v, want %+v", got, tc.want)
			}
			if got := h.Dataset.Strings("00100010"); len(got) != 1 {
				t.Errorf("PatientName has %d values %q", len(got), got)
			}
			if got := h.Dataset.String("00081030"); got != tc.wantDesc {
				t.Errorf("StudyDescription = %q, want %q", got, tc.wantDesc)
			}
			// The JSON is UTF-8 with the name as an object.
			b, err := json.Marshal(h.Dataset["00100010"])
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(Element{VR: "PN", Value: []any{tc.want}})
			if !bytes.Equal(b, want) {
				t.Errorf("JSON %s, want %s", b, want)
			}
		})
	}
}

func TestCharsetInItem(t *testing.T) {
	e := explicitLE
	file := e.file(
		e.str(tagSpecificCharacterSet, "CS", "ISO_IR 100"),
		e.str(0x00100010, "PN", "M\xfcller"),
		e.seq(0x00101002, // OtherPatientIDsSequence
			e.item(e.str(tagSpecificCharacterSet, "CS", "ISO_IR 192"), e.str(0x00100010, "PN", "Müller")),
			e.item(e.str(0x00100010, "PN", "M\xfcller")),
		),
	)
	h := mustRead(t, file)
	if got := h.Dataset.String("00100010"); got != "Müller" {
		t.Errorf("top level = %q", got)
	}
	for i, v := range h.Dataset["00101002"].Value {
		if got := v.(Dataset).String("00100010"); got != "Müller" {
			t.Errorf("item %d = %q", i, got)
		}
	}
	if got := h.Dataset.Strings("00080005"); len(got) != 1 || got[0] != "ISO_IR 100" {
		t.Errorf("SpecificCharacterSet = %q", got)
	}
}

func TestTextDecoder(t *testing.T) {
	tests := []struct {
		terms []string
		in    string
		want  string
	}{
		{nil, "plain", "plain"},
		{nil, "d\xe9j\xe0", "déjà"},                // not UTF-8: Latin-1
		{nil, "déjà", "déjà"},                      // already UTF-8
		{[]string{"ISO_IR 6"}, "abc", "abc"},       // default repertoire
		{[]string{"ISO_IR 192"}, "\xff", "\uFFFD"}, // invalid UTF-8
		{[]string{"ISO_IR 101"}, "\xb1", "ą"},
		{[]string{"ISO_IR 126"}, "\xc1", "Α"},
		{[]string{"ISO_IR 138"}, "\xf9", "ש"},
		{[]string{"ISO_IR 127"}, "\xc7", "ا"},
		{[]string{"ISO_IR 148"}, "\xfd", "ı"},
		{[]string{"ISO_IR 166"}, "\xa1", "ก"},
		{[]string{"ISO_IR 13"}, "\xd4\xcf\xc0\xde", "ﾔﾏﾀﾞ"},
		{[]string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, "\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎"},
		{[]string{"", "ISO 2022 IR 58"}, "Zhang^XiaoDong=\x1b$)A\xd5\xc5^\xd0\xa1\xb6\xab=", "Zhang^XiaoDong=张^小东="},
		{[]string{"ISO 2022 IR 100"}, "\x1b-A\xe9", "é"},
		{[]string{"ISO 2022 IR 6", "ISO 2022 IR 144"}, "\x1b-L\xbb", "Л"},
		{[]string{"UNKNOWN"}, "abc", "abc"},
		{[]string{"ISO 2022 IR 6"}, "a\x1b%Gb", "a\uFFFD%Gb"}, // unsupported escape
	}
	for _, tc := range tests {
		if got := newTextDecoder(tc.terms, nil, nil).decode(tc.in); got != tc.want {
			t.Errorf("%q: decode(%q) = %q, want %q", strings.Join(tc.terms, `\`), tc.in, got, tc.want)
		}
	}
}
