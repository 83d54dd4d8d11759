package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/federation"
)

// TestFederationReplayAtAnotherGateway runs two real gateways, b and c,
// that both trust gateway a's key: a request a signed for b is answered
// by b, and the same request captured and sent to c is refused 401 (it
// names b as its receiver and covers b's authority), as is one re-signed
// by a for c's name but b's host. The refusals are logged by reason.
func TestFederationReplayAtAnotherGateway(t *testing.T) {
	pubA, keyA, _ := ed25519.GenerateKey(rand.Reader)
	a := &fedGateway{name: "a", province: "110000", addr: loopbackAddr(t)}
	a.reach = a.addr
	dir := t.TempDir()
	var gws []*fedGateway
	for _, g := range []struct{ name, province string }{{"b", "310000"}, {"c", "440000"}} {
		gw := &fedGateway{name: g.name, province: g.province, addr: loopbackAddr(t), data: t.TempDir()}
		gw.reach = gw.addr
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pemBytes, _ := federation.EncodePrivateKey(priv)
		gw.keyFile = filepath.Join(dir, g.name+".key")
		if err := os.WriteFile(gw.keyFile, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		gws = append(gws, gw)
	}
	peers := writePeers(t, filepath.Join(dir, "peers.yaml"), []*fedGateway{a}, map[string]ed25519.PublicKey{"a": pubA})
	for _, g := range gws {
		g.start(t, peers)
	}
	b, c := gws[0], gws[1]
	signed := func(target, to string) *http.Request {
		t.Helper()
		r, _ := http.NewRequest("GET", target, nil)
		r.Header.Set("Accept", "application/dicom+json")
		if _, err := (&federation.Signer{Name: "a", Key: keyA, Now: time.Now}).Sign(r, to, federation.Asking{Institution: "pumch", User: "dr.li"}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *http.Request, addr string) int {
		t.Helper()
		r = r.Clone(r.Context())
		r.URL.Host = addr // the captured request, sent elsewhere
		r.Host = ""
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	captured := signed(b.root()+"/dicomweb/studies", "b")
	if got := send(captured, c.addr); got != 401 {
		t.Errorf("b's request replayed at c: %d, want 401", got)
	}
	if got := send(signed(b.root()+"/dicomweb/studies", "c"), c.addr); got != 401 {
		t.Errorf("a request for c signed over b's host: %d, want 401", got)
	}
	if got := send(captured, b.addr); got != 200 {
		t.Errorf("the request at b, its receiver: %d, want 200", got)
	}
	if got := send(signed(c.root()+"/dicomweb/studies", "c"), c.addr); got != 200 {
		t.Errorf("a request for c at c: %d, want 200", got)
	}
	for _, want := range []string{"reason=receiver", "reason=bad_signature"} {
		if !strings.Contains(c.p.log.String(), want) {
			t.Errorf("c's log lacks %s:\n%s", want, c.p.log.String())
		}
	}
}
