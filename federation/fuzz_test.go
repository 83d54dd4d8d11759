package federation

import (
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzPeerRequest feeds arbitrary Signature-Input, Signature and Date
// headers to the verifier: it must refuse without panicking.
func FuzzPeerRequest(f *testing.F) {
	a, b := newGW(f, "a", "110000"), newGW(f, "b", "310000")
	bs := b.service(f, []Peer{a.peer("http://a.example/dicomweb")}, nil)
	r := httptest.NewRequest("GET", "http://b.example/dicomweb/studies?x=1", nil)
	(&Signer{Name: "a", Key: a.key, Now: time.Now}).Sign(r, "b", Asking{Institution: "pumch", User: "dr"})
	f.Add(r.Header.Get(HeaderSignatureInput), r.Header.Get(HeaderSignature), r.Header.Get("Date"))
	f.Add(`fed=("@method");keyid="a"`, "fed=:AAAA:", "")
	f.Add(`fed=(`, `fed=`, "x")
	f.Fuzz(func(t *testing.T, input, sig, date string) {
		r := httptest.NewRequest("GET", "/dicomweb/studies", nil)
		r.Header.Set(HeaderSignatureInput, input)
		r.Header.Set(HeaderSignature, sig)
		r.Header.Set("Date", date)
		if _, ok, err := bs.Session(r); ok && err == nil {
			t.Fatalf("forged headers accepted: %q %q", input, sig)
		}
		_ = verifyProvenance(a.peer(""), sig, "n", "t", 200, "x", nil)
		_, _ = CheckRetrievePath(input)
	})
}
