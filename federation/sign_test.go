package federation

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
)

// TestSessionVerifiesPeerRequests signs requests as gateway "a" and checks
// what gateway "b" accepts: the principal it builds from a good request,
// and a 401 for every forgery.
func TestSessionVerifiesPeerRequests(t *testing.T) {
	a, b, mallory := newGW(t, "a", "110000"), newGW(t, "b", "310000"), newGW(t, "a", "110000")
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	bs := b.service(t, []Peer{a.peer("http://a.example/dicomweb")}, func(o *Options) { o.Now = clock })
	signed := func(signer gw, at time.Time, who Asking) *http.Request {
		r := httptest.NewRequest("GET", "http://b.example/dicomweb/studies?PatientID=P1&limit=5", nil)
		s := &Signer{Name: signer.name, Key: signer.key, Now: func() time.Time { return at }}
		if _, err := s.Sign(r, "b", who); err != nil {
			t.Fatal(err)
		}
		return r
	}
	who := Asking{Institution: "pumch", User: "dr.李"}

	r := signed(a, now, who)
	p, ok, err := bs.Session(r)
	if !ok || err != nil {
		t.Fatalf("good request: ok=%v err=%v", ok, err)
	}
	want := auth.Principal{Role: auth.RolePeer, Institution: "pumch", User: "peer:a/dr.李", TokenID: "peer:a"}
	if p != want {
		t.Fatalf("principal %+v, want %+v", p, want)
	}
	if name, ok := IsPeer(p); !ok || name != "a" {
		t.Fatalf("IsPeer = %q %v", name, ok)
	}
	if _, ok, _ := bs.Session(httptest.NewRequest("GET", "/dicomweb/studies", nil)); ok {
		t.Fatal("an unsigned request was taken as a peer request")
	}

	tests := []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"replay", func() *http.Request { return r }, "replayed"},
		{"bad signature (other key, same key id)", func() *http.Request { return signed(mallory, now, who) }, "does not verify"},
		{"unknown key id", func() *http.Request { return signed(newGW(t, "zz", "440000"), now, who) }, "unknown key"},
		{"stale", func() *http.Request { return signed(a, now.Add(-2*time.Minute), who) }, "skew"},
		{"from the future", func() *http.Request { return signed(a, now.Add(2*time.Minute), who) }, "skew"},
		{"institution changed after signing", func() *http.Request {
			r := signed(a, now, who)
			r.Header.Set(HeaderInstitution, "other")
			return r
		}, "does not verify"},
		{"query changed after signing", func() *http.Request {
			r := signed(a, now, who)
			r.URL.RawQuery = "PatientID=P2"
			return r
		}, "does not verify"},
		{"path changed after signing", func() *http.Request {
			r := signed(a, now, who)
			r.URL.Path = "/dicomweb/studies/1.2.3/metadata"
			return r
		}, "does not verify"},
		{"a body", func() *http.Request {
			r := signed(a, now, who)
			r.Body, r.ContentLength = http.NoBody, 10
			return r
		}, "no body"},
		{"component left out", func() *http.Request {
			r := signed(a, now, who)
			r.Header.Set(HeaderSignatureInput, strings.Replace(r.Header.Get(HeaderSignatureInput), ` "x-imgcloud-user"`, "", 1))
			return r
		}, "does not cover"},
		{"signature without input", func() *http.Request {
			r := signed(a, now, who)
			r.Header.Del(HeaderSignatureInput)
			return r
		}, "Signature-Input"},
		{"bad institution id", func() *http.Request { return signed(a, now, Asking{Institution: "a b"}) }, "institution"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := bs.Session(tc.req())
			if !ok || !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ok=%v err=%v, want an ErrUnauthenticated containing %q", ok, err, tc.want)
			}
		})
	}
}

// TestAdmitRefusesBorrowedInstitution: the hook can refuse an asking
// institution (e.g. one of this province's hospitals claimed by a peer).
func TestAdmitRefusesBorrowedInstitution(t *testing.T) {
	a, b := newGW(t, "a", "110000"), newGW(t, "b", "310000")
	bs := b.service(t, []Peer{a.peer("http://a.example/dicomweb")}, func(o *Options) {
		o.Admit = func(p Peer, inst string) error {
			if inst == "zsh-fdu" {
				return errors.New("institution zsh-fdu is registered in province 310000")
			}
			return nil
		}
	})
	r := httptest.NewRequest("GET", "http://b.example/dicomweb/studies", nil)
	(&Signer{Name: "a", Key: a.key, Now: time.Now}).Sign(r, "b", Asking{Institution: "zsh-fdu"})
	if _, _, err := bs.Session(r); err == nil || !strings.Contains(err.Error(), "310000") {
		t.Fatalf("borrowed institution admitted: %v", err)
	}
}

// TestNonceCacheBounded: nonces are remembered for the window, forgotten
// after, and a full cache refuses rather than forgets.
func TestNonceCacheBounded(t *testing.T) {
	c := newNonceCache(time.Minute, 3)
	t0 := time.Unix(1000, 0)
	for i, k := range []string{"a", "b", "c"} {
		if err := c.add(k, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add("a", t0.Add(10*time.Second)); !errors.Is(err, errReplay) {
		t.Fatalf("replay within the window: %v", err)
	}
	if err := c.add("d", t0.Add(10*time.Second)); !errors.Is(err, errCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	if err := c.add("d", t0.Add(61*time.Second)); err != nil {
		t.Fatalf("after expiry of a: %v", err)
	}
	if err := c.add("a", t0.Add(200*time.Second)); err != nil || c.size() != 1 {
		t.Fatalf("after the window: %v, size %d", err, c.size())
	}
	for i := 0; i < 5000; i++ { // the queue compacts
		c.add(string(rune('A'+i%26))+time.Duration(i).String(), t0.Add(time.Duration(300+i*60)*time.Second))
	}
	if c.size() > 3 || len(c.queue)-c.head > 3 {
		t.Fatalf("cache grew: %d live, queue %d", c.size(), len(c.queue)-c.head)
	}
}

// TestProvenance: a signed answer verifies; a changed body, status,
// target, nonce or holder does not.
func TestProvenance(t *testing.T) {
	b := newGW(t, "b", "310000")
	bs := b.service(t, nil, nil)
	r := httptest.NewRequest("GET", "http://b.example/dicomweb/studies/1.2/metadata", nil)
	(&Signer{Name: "a", Key: newGW(t, "a", "110000").key, Now: time.Now}).Sign(r, "b", Asking{})
	nonce, target := RequestNonce(r), Target(r)
	sum := []byte(strings.Repeat("x", 32))
	v := bs.SignProvenance(r, 200, "application/dicom+json", sum)
	peer := b.peer("http://b.example/dicomweb")
	if err := verifyProvenance(peer, v, nonce, target, 200, "application/dicom+json", sum); err != nil {
		t.Fatalf("good answer: %v", err)
	}
	other := []byte(strings.Repeat("y", 32))
	for name, err := range map[string]error{
		"body":    verifyProvenance(peer, v, nonce, target, 200, "application/dicom+json", other),
		"status":  verifyProvenance(peer, v, nonce, target, 404, "application/dicom+json", sum),
		"type":    verifyProvenance(peer, v, nonce, target, 200, "application/json", sum),
		"target":  verifyProvenance(peer, v, nonce, "GET /dicomweb/studies/1.3/metadata", 200, "application/dicom+json", sum),
		"nonce":   verifyProvenance(peer, v, "another-nonce-123456", target, 200, "application/dicom+json", sum),
		"holder":  verifyProvenance(newGW(t, "c", "440000").peer(""), v, nonce, target, 200, "application/dicom+json", sum),
		"missing": verifyProvenance(peer, "", nonce, target, 200, "application/dicom+json", sum),
	} {
		if err == nil {
			t.Errorf("%s changed, yet the provenance verifies", name)
		}
	}
}

// TestSignatureBindsReceiver: a request a signs for gateway b, captured on
// its way, is refused by gateway c which trusts the same key, whatever
// Host it is sent with; a gateway with a public URL refuses a signature
// made for another host; and a signature made before the authority and
// the receiver were covered is refused.
func TestSignatureBindsReceiver(t *testing.T) {
	a, b, c := newGW(t, "a", "110000"), newGW(t, "b", "310000"), newGW(t, "c", "440000")
	trusts := []Peer{a.peer("http://a.example/dicomweb")}
	bs := b.service(t, trusts, func(o *Options) { o.PublicURL = "https://B.example:443/dicomweb" })
	cs := c.service(t, trusts, nil)
	signer := &Signer{Name: "a", Key: a.key, Now: time.Now}
	signed := func(target, to string) *http.Request {
		t.Helper()
		r := httptest.NewRequest("GET", target, nil)
		if _, err := signer.Sign(r, to, Asking{Institution: "pumch", User: "dr.li"}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	refused := func(name string, s *Service, r *http.Request, want string) {
		t.Helper()
		if _, ok, err := s.Session(r); !ok || !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ok=%v err=%v, want a refusal containing %q", name, ok, err, want)
		}
	}

	captured := signed("https://b.example/dicomweb/studies?PatientID=P1", "b")
	replay := captured.Clone(captured.Context())
	replay.Host = "c.example"
	refused("replayed at c", cs, replay, `request is for gateway "b"`)
	replay = captured.Clone(captured.Context())
	refused("replayed at c with b's Host", cs, replay, `request is for gateway "b"`)
	replay.Header.Set(HeaderTo, "c")
	refused("replayed at c, receiver changed", cs, replay, "does not verify")
	if _, ok, err := bs.Session(captured); !ok || err != nil {
		t.Fatalf("b refused the request for it: %v", err)
	}

	// b covers its own authority, not the Host it was sent with.
	other := signed("https://b.internal/dicomweb/studies", "b")
	refused("signed for another host", bs, other, "does not verify")
	forged := signed("https://b.internal/dicomweb/studies", "b")
	forged.Host = "b.example"
	refused("signed for another host, Host rewritten", bs, forged, "does not verify")

	// c, without a public URL, covers the Host the request arrived with.
	if _, ok, err := cs.Session(signed("http://c.example:8080/dicomweb/studies", "c")); !ok || err != nil {
		t.Fatalf("c refused the request for it: %v", err)
	}

	old := signed("https://b.example/dicomweb/studies", "b")
	old.Header.Set(HeaderSignatureInput, strings.NewReplacer(` "@authority"`, "", ` "x-imgcloud-to"`, "").Replace(old.Header.Get(HeaderSignatureInput)))
	refused("signature of the former form", bs, old, "does not cover @authority")
}
