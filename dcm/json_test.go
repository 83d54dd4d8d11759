package dcm

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// plainDataset and plainElement have no MarshalJSON: encoding/json's
// reflection output is the reference the fast encoder must equal byte for
// byte.
type plainElement struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
}

func plain(d Dataset) map[string]*plainElement {
	out := map[string]*plainElement{}
	for k, e := range d {
		if e == nil {
			out[k] = nil
			continue
		}
		pe := &plainElement{VR: e.VR, InlineBinary: e.InlineBinary, BulkDataURI: e.BulkDataURI}
		for _, v := range e.Value {
			switch x := v.(type) {
			case Dataset:
				pe.Value = append(pe.Value, plain(x))
			case PersonName:
				pe.Value = append(pe.Value, struct {
					Alphabetic  string `json:"Alphabetic,omitempty"`
					Ideographic string `json:"Ideographic,omitempty"`
					Phonetic    string `json:"Phonetic,omitempty"`
				}{x.Alphabetic, x.Ideographic, x.Phonetic})
			default:
				pe.Value = append(pe.Value, v)
			}
		}
		out[k] = pe
	}
	return out
}

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	sets := []Dataset{{
		"00100010": {VR: "PN", Value: []any{PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, nil}},
		"00080020": {VR: "DA", Value: []any{"20261125"}},
		"00201208": {VR: "IS", Value: []any{float64(6), 1e21, 1.5e-7, -0.000001, 123456.789, float64(0)}},
		"00081030": {VR: "LO", Value: []any{"<b>&\"quoted\"\\\n\t\x01\u2028 \xff end"}},
		"7FE00010": {VR: "OW", BulkDataURI: "@@BASE@@/studies/1/bulkdata/7FE00010"},
		"00091010": {VR: "OB", InlineBinary: "AAEC"},
		"00400275": {VR: "SQ", Value: []any{Dataset{"00321060": {VR: "LO", Value: []any{"头颅平扫"}}}}},
		"00280010": {VR: "US"},
		"00720026": {VR: "SV", Value: []any{int64(-5), "9007199254740993"}},
	}}
	for _, name := range []string{"3.dcm", "5.dcm", "1.dcm"} {
		sets = append(sets, mustRead(t, readReal(t, name)).Dataset)
	}
	for i, ds := range sets {
		want, err := json.Marshal(plain(ds))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ds.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("set %d differs:\nfast %s\njson %s", i, got, want)
		}
		// And through encoding/json (Dataset as a value inside a struct).
		wrapped, _ := json.Marshal(struct{ D Dataset }{ds})
		ref, _ := json.Marshal(struct{ D any }{plain(ds)})
		if !bytes.Equal(wrapped, ref) {
			t.Fatalf("set %d differs when nested", i)
		}
	}
	if _, err := (Dataset{"0": {VR: "FD", Value: []any{math.NaN()}}}).MarshalJSON(); err == nil {
		t.Fatal("NaN encoded")
	}
}

func BenchmarkDatasetJSON(b *testing.B) {
	h := mustRead(b, readReal(b, "3.dcm"))
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h.Dataset.AppendJSON(nil)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		p := plain(h.Dataset)
		for i := 0; i < b.N; i++ {
			json.Marshal(p)
		}
	})
}
