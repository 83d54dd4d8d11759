package dcm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sampleDataset() Dataset {
	return Dataset{
		"00100010": {VR: "PN", Value: []any{PersonName{Alphabetic: "Doe^John", Ideographic: "ドウ"}, nil}},
		"00100020": {VR: "LO", Value: []any{"PID"}},
		"00200013": {VR: "IS", Value: []any{7.0}},
		"00280030": {VR: "DS", Value: []any{0.25, 1.5}},
		"00281052": {VR: "DS", Value: []any{-1024.0}},
		"00181310": {VR: "US", Value: []any{float64(1 << 40)}},
		"00080008": {VR: "CS"},
		"7FE00010": {VR: "OW", BulkDataURI: "7FE00010"},
		"00880200": {VR: "SQ", Value: []any{Dataset{
			"7FE00010": {VR: "OB", BulkDataURI: "00880200/0/7FE00010"},
			"00280010": {VR: "US", Value: []any{64.0}},
		}}},
	}
}

func TestAccessors(t *testing.T) {
	d := sampleDataset()
	for _, tc := range []struct{ tag, want string }{
		{"00100010", "Doe^John"},
		{"00100020", "PID"},
		{"00200013", "7"},
		{"00280030", "0.25"},
		{"00281052", "-1024"},
		{"00181310", "1099511627776"},
		{"00080008", ""},
		{"7FE00010", ""},
		{"99990000", ""},
	} {
		if got := d.String(tc.tag); got != tc.want {
			t.Errorf("String(%s) = %q, want %q", tc.tag, got, tc.want)
		}
	}
	if got := d.Strings("00280030"); !reflect.DeepEqual(got, []string{"0.25", "1.5"}) {
		t.Errorf("Strings(DS) = %q", got)
	}
	if got := d.Strings("00100010"); !reflect.DeepEqual(got, []string{"Doe^John", ""}) {
		t.Errorf("Strings(PN) = %q", got)
	}
	if got := d.Strings("00080008"); got != nil {
		t.Errorf("Strings(empty) = %q", got)
	}
	for _, tc := range []struct {
		tag  string
		want int
		ok   bool
	}{{"00200013", 7, true}, {"00281052", -1024, true}, {"00280030", 0, false}, {"00100020", 0, false}, {"00080008", 0, false}, {"12345678", 0, false}} {
		if n, ok := d.Int(tc.tag); n != tc.want || ok != tc.ok {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", tc.tag, n, ok, tc.want, tc.ok)
		}
	}
	if got := d.PN("00100010"); got != (PersonName{Alphabetic: "Doe^John", Ideographic: "ドウ"}) {
		t.Errorf("PN = %+v", got)
	}
	if got := d.PN("00100020"); got != (PersonName{Alphabetic: "PID"}) {
		t.Errorf("PN of a string = %+v", got)
	}
	if got := (PersonName{Ideographic: "山田"}).String(); got != "山田" {
		t.Errorf("ideographic-only String() = %q", got)
	}
}

func TestAccessorsAfterPlainJSON(t *testing.T) {
	// Values decoded by encoding/json into []any without Element's
	// UnmarshalJSON (e.g. through map[string]any) still work.
	var raw map[string]struct {
		VR    string `json:"vr"`
		Value []any  `json:"Value"`
	}
	b, _ := json.Marshal(sampleDataset())
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	d := Dataset{}
	for k, v := range raw {
		d[k] = &Element{VR: v.VR, Value: v.Value}
	}
	if got := d.String("00100010"); got != "Doe^John" {
		t.Errorf("String(PN) = %q", got)
	}
	if got := d.PN("00100010"); got.Ideographic != "ドウ" {
		t.Errorf("PN = %+v", got)
	}
	if n, ok := d.Int("00200013"); n != 7 || !ok {
		t.Errorf("Int = %d, %v", n, ok)
	}
	d["00200013"] = &Element{VR: "IS", Value: []any{" 12 "}}
	if n, ok := d.Int("00200013"); n != 12 || !ok {
		t.Errorf("Int(string) = %d, %v", n, ok)
	}
}

func TestUnmarshalRoundTrip(t *testing.T) {
	d := sampleDataset()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Dataset
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		b2, _ := json.Marshal(back)
		t.Errorf("round trip:\n got %s\nwant %s", b2, b)
	}
	if _, ok := back["00880200"].Value[0].(Dataset); !ok {
		t.Errorf("item type %T, want Dataset", back["00880200"].Value[0])
	}
	var pn Dataset
	if err := json.Unmarshal([]byte(`{"00100010":{"vr":"PN","Value":["Doe^Jane"]}}`), &pn); err != nil {
		t.Fatal(err)
	}
	if got := pn.PN("00100010"); got.Alphabetic != "Doe^Jane" {
		t.Errorf("string PN = %+v", got)
	}
	if err := json.Unmarshal([]byte(`{"00100010":{"vr":"SQ","Value":[3]}}`), &pn); err == nil {
		t.Errorf("a number as an item decoded")
	}
}

func TestWalkBulk(t *testing.T) {
	d := sampleDataset()
	var seen []string
	d.WalkBulk(func(e *Element) {
		seen = append(seen, e.BulkDataURI)
		e.BulkDataURI = "https://example.test/bulk/" + e.BulkDataURI
	})
	if want := []string{"00880200/0/7FE00010", "7FE00010"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("WalkBulk visited %q, want %q", seen, want)
	}
	if !strings.HasPrefix(d["00880200"].Value[0].(Dataset)["7FE00010"].BulkDataURI, "https://") {
		t.Errorf("nested bulk value not rewritten")
	}
}

func TestDictionary(t *testing.T) {
	for kw, want := range map[string]string{
		"PatientName":       "00100010",
		"StudyInstanceUID":  "0020000D",
		"PixelData":         "7FE00010",
		"NumberOfFrames":    "00280008",
		"0020000d":          "0020000D",
		"ModalitiesInStudy": "00080061",
	} {
		if got, ok := TagForKeyword(kw); !ok || got != want {
			t.Errorf("TagForKeyword(%q) = %q, %v; want %q", kw, got, ok, want)
		}
	}
	for _, kw := range []string{"", "NoSuchKeyword", "Patient's Name", "0010001", "0x100010"} {
		if got, ok := TagForKeyword(kw); ok {
			t.Errorf("TagForKeyword(%q) = %q, want not found", kw, got)
		}
	}
	if got := KeywordForTag("00100010"); got != "PatientName" {
		t.Errorf("KeywordForTag = %q", got)
	}
	if got := KeywordForTag("00091001"); got != "" {
		t.Errorf("KeywordForTag(private) = %q", got)
	}
	for tag, want := range map[string]string{"00100010": "PN", "00280106": "US", "0020000D": "UI", "00091001": "UN", "zz": "UN", "00080000": "UL"} {
		if got := VRForTag(tag); got != want {
			t.Errorf("VRForTag(%s) = %q, want %q", tag, got, want)
		}
	}
}

func TestValidUID(t *testing.T) {
	for _, s := range []string{"1", "0", "1.2.840.10008.1.2.1", "2.25.329800735698586629295641978511506172918", "1.0.2", strings.Repeat("1.", 31) + "12"} {
		if !ValidUID(s) {
			t.Errorf("ValidUID(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "1.", ".1", "1..2", "1.02", "01", "1.2a", "../../etc", "1.2 ", "1.2\x00", "1,2", strings.Repeat("1", 65), "-1"} {
		if ValidUID(s) {
			t.Errorf("ValidUID(%q) = true", s)
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	got := Limits{}.withDefaults()
	want := Limits{MaxDepth: 32, MaxHeaderBytes: 16 << 20, InlineBinaryMax: 1024, MaxInflatedBytes: 1 << 30}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if got := (Limits{MaxDepth: 1 << 20, InlineBinaryMax: -5}).withDefaults(); got.MaxDepth != maxDepthCap || got.InlineBinaryMax != -1 {
		t.Errorf("caps = %+v", got)
	}
}
