package jsonappend

import (
	"encoding/json"
	"math"
	"testing"
)

// TestSameAsEncodingJSON: strings and numbers come out byte for byte as
// encoding/json writes them.
func TestSameAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ back`, "<a&b>", "tab\tnl\ncr\r\x00\x1f\x7f",
		"张伟 Zhang^Wei=张^伟", "bad \xff utf8", "line\u2028para\u2029", "\U0001F600"} {
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
	for _, f := range []float64{0, 1, -1, 0.5, 1e-7, 1e-6, 123456789, 1e20, 1e21, 1.5e300, -2.25e-9, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, _ := json.Marshal(f)
		if got, err := Float(nil, f); err != nil || string(got) != string(want) {
			t.Errorf("Float(%g) = %s, %v; want %s", f, got, err, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Float(nil, f); err == nil {
			t.Errorf("Float(%g) accepted", f)
		}
	}
}
