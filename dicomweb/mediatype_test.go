package dicomweb

import (
	"reflect"
	"testing"
)

// TestParseMediaType: parameters are read as RFC 9110 has them, quoted or
// as tokens alike, with case-insensitive names, and leniently where real
// clients stray (OHIF v3 sends type=application/octet-stream unquoted).
func TestParseMediaType(t *testing.T) {
	for _, c := range []struct {
		in     string
		typ    string
		params map[string]string
	}{
		{`multipart/related; type=application/octet-stream; transfer-syntax=*`, "multipart/related",
			map[string]string{"type": "application/octet-stream", "transfer-syntax": "*"}},
		{`multipart/related; type="application/octet-stream"; transfer-syntax=*`, "multipart/related",
			map[string]string{"type": "application/octet-stream", "transfer-syntax": "*"}},
		{`Multipart/Related;TYPE="application/dicom" ; Transfer-Syntax=1.2.840.10008.1.2.4.70;boundary=abc`, "multipart/related",
			map[string]string{"type": "application/dicom", "transfer-syntax": "1.2.840.10008.1.2.4.70", "boundary": "abc"}},
		{`multipart/related; type="application/dicom; transfer-syntax=*"`, "multipart/related",
			map[string]string{"type": "application/dicom; transfer-syntax=*"}},
		{`multipart/related; boundary="a \"quoted\" b"; type=application/dicom`, "multipart/related",
			map[string]string{"boundary": `a "quoted" b`, "type": "application/dicom"}},
		{`image/jpeg; q=0.5; novalue; =x`, "image/jpeg", map[string]string{"q": "0.5"}},
		{`application/dicom; transfer-syntax=1.2; transfer-syntax=3.4`, "application/dicom", map[string]string{"transfer-syntax": "1.2"}},
	} {
		typ, params, err := parseMediaType(c.in)
		if err != nil || typ != c.typ || !reflect.DeepEqual(params, c.params) {
			t.Errorf("parseMediaType(%q) = %q %v %v; want %q %v", c.in, typ, params, err, c.typ, c.params)
		}
	}
	for _, bad := range []string{"", "jpeg", "image/", "/jpeg", "image jpeg/x", `"image/jpeg"`} {
		if typ, _, err := parseMediaType(bad); err == nil {
			t.Errorf("parseMediaType(%q) = %q, want an error", bad, typ)
		}
	}
	got := parseAccept(`multipart/related; type=application/octet-stream; transfer-syntax=*`)
	if len(got) != 1 || got[0].params["type"] != "application/octet-stream" || got[0].params["transfer-syntax"] != "*" {
		t.Errorf("OHIF v3's Accept: %+v", got)
	}
}
