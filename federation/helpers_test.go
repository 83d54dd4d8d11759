package federation

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// gw is a test gateway identity.
type gw struct {
	name, province string
	key            ed25519.PrivateKey
}

func newGW(t testing.TB, name, province string) gw {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return gw{name: name, province: province, key: k}
}

func (g gw) peer(url string) Peer {
	return Peer{Name: g.name, Province: g.province, URL: url, PublicKey: g.key.Public().(ed25519.PublicKey)}
}

func (g gw) service(t testing.TB, peers []Peer, mod func(*Options)) *Service {
	t.Helper()
	opt := Options{Name: g.name, Province: g.province, Key: g.key, Peers: peers}
	if mod != nil {
		mod(&opt)
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakePeer serves signed answers as a holding gateway would: it verifies
// the request with svc and signs its answer in the trailer. answer writes
// the body (status 200, DICOM JSON) for the asking principal's institution.
type fakePeer struct {
	svc    *Service
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, institution string)
	// tamper changes the body after signing.
	tamper bool
	delay  time.Duration
}

func startFakePeer(t testing.TB, svc *Service, answer func(w http.ResponseWriter, r *http.Request, institution string)) *fakePeer {
	t.Helper()
	fp := &fakePeer{svc: svc, answer: answer}
	fp.srv = httptest.NewServer(http.HandlerFunc(fp.serve))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakePeer) serve(w http.ResponseWriter, r *http.Request) {
	if fp.delay > 0 {
		select {
		case <-time.After(fp.delay):
		case <-r.Context().Done():
			return
		}
	}
	p, ok, err := fp.svc.Session(r)
	if !ok || err != nil {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	rec := httptest.NewRecorder()
	fp.answer(rec, r, p.Institution)
	body := rec.Body.Bytes()
	ct := rec.Header().Get("Content-Type")
	if ct == "" {
		ct = "application/dicom+json"
	}
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Trailer", HeaderProvenance)
	w.WriteHeader(http.StatusOK)
	if fp.tamper && len(body) > 10 {
		body = append([]byte(nil), body...)
		body[len(body)/2] ^= 1
	}
	w.Write(body)
	w.Header().Set(HeaderProvenance, fp.svc.SignProvenance(r, http.StatusOK, ct, sum[:]))
}
