package fedapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// node is an in-process gateway with federation: the real archive, index
// and DICOMweb routes, and a test access middleware that authenticates
// peers by signature and everyone else as the given principal.
type node struct {
	name, province string
	key            ed25519.PrivateKey
	fed            *federation.Service
	srv            *httptest.Server
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (n *node) peer(url string) federation.Peer {
	return federation.Peer{Name: n.name, Province: n.province, URL: url, PublicKey: n.key.Public().(ed25519.PublicKey)}
}

// start runs n with peers, answering non-peer requests as user.
func (n *node) start(t testing.TB, peers []federation.Peer, user auth.Principal, mod func(*federation.Options)) {
	t.Helper()
	opt := federation.Options{Name: n.name, Province: n.province, Key: n.key, Peers: peers}
	if mod != nil {
		mod(&opt)
	}
	fed, err := federation.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	n.fed = fed
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := archive.New(storagetest.NewMemory(), db, archive.Options{TempDir: t.TempDir(), Visibility: archive.Unrestricted{}})
	api := &API{Fed: fed}
	access := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			p, ok, err := fed.Session(r)
			if err != nil {
				return err
			}
			if !ok {
				p = user
			}
			c.SetRequest(r.WithContext(auth.WithPrincipal(r.Context(), p)))
			return next(c)
		}
	}
	e := server.New(svc, server.Options{
		Access: access, Middleware: []echo.MiddlewareFunc{api.Provenance},
		API: []func(*echo.Group){api.Register},
		DICOMweb: dicomweb.Options{Mount: []func(*echo.Group, func(echo.Context) string){api.Mount},
			Searcher: api.Searcher},
	})
	n.srv = httptest.NewServer(e)
	t.Cleanup(func() { n.srv.Close(); fed.Close(); db.Close() })
}

func (n *node) stow(t testing.TB, man *corpus.Manifest, studies ...corpus.Study) {
	t.Helper()
	for _, st := range studies {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		if resp, body := gwtest.Stow(t, n.srv.URL+"/dicomweb/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
			t.Fatalf("STOW to %s: %d %s", n.name, resp.StatusCode, body)
		}
	}
}

// tamperer relays to target, flipping one byte of every answer body
// longer than 100 bytes (trailers pass through untouched).
func tamperer(t testing.TB, target string) *httptest.Server {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &flipper{rc: resp.Body, at: 100}
		return nil
	}
	s := httptest.NewServer(rp)
	t.Cleanup(s.Close)
	return s
}

type flipper struct {
	rc io.ReadCloser
	at int
	n  int
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if f.n <= f.at && f.at < f.n+n {
		p[f.at-f.n] ^= 0x20
	}
	f.n += n
	return n, err
}
func (f *flipper) Close() error { return f.rc.Close() }

var clinician = auth.Principal{Role: auth.RoleClinician, Institution: "pumch", User: "dr.li"}

// pair starts holder b (with studies), asker a, which reaches b directly,
// and asker ae, gateway a again (same name and key) but reaching b through
// a relay that tampers with answers. (A relay cannot be a peer of its own
// name: requests are signed for their receiver, which refuses others'.)
func pair(t *testing.T) (a, ae, b *node, man *corpus.Manifest) {
	t.Helper()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 3, SeriesPerStudy: 1, InstancesPerSeries: 2, Seed: 5,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	a = &node{name: "a", province: "110000", key: newKey(t)}
	b = &node{name: "b", province: "310000", key: newKey(t)}
	b.start(t, []federation.Peer{a.peer("http://unused/dicomweb")}, auth.Principal{Role: auth.RoleAdmin}, nil)
	b.stow(t, man, man.Studies()[1:]...)
	evil := tamperer(t, b.srv.URL)
	a.start(t, []federation.Peer{b.peer(b.srv.URL + "/dicomweb")}, clinician, nil)
	a.stow(t, man, man.Studies()[0])
	ae = &node{name: a.name, province: a.province, key: a.key}
	ae.start(t, []federation.Peer{b.peer(evil.URL + "/dicomweb")}, clinician, nil)
	ae.stow(t, man, man.Studies()[0])
	return a, ae, b, man
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestFederatedSearchAndProvenance: the signed answer of b is merged; the
// same answer altered on the way (through the relay) is rejected and named
// in a Warning; "federation" never reaches the local QIDO parser.
func TestFederatedSearchAndProvenance(t *testing.T) {
	a, ae, _, man := pair(t)
	hdr := map[string]string{"Accept": "application/dicom+json"}
	resp, body, _ := get(t, a.srv.URL+"/dicomweb/studies?federation=b", hdr)
	var items []map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil || len(items) != len(man.Studies()) {
		t.Fatalf("federation=b: %d, %d items: %s", resp.StatusCode, len(items), body)
	}
	if !strings.Contains(string(items[0][federation.TagProvenance]), "LOCAL") || !strings.Contains(string(items[1][federation.TagProvenance]), "VERIFIED") {
		t.Fatalf("provenance marks: %s / %s", items[0][federation.TagProvenance], items[1][federation.TagProvenance])
	}
	resp, body, _ = get(t, ae.srv.URL+"/dicomweb/studies?federation=b", hdr)
	if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil || len(items) != 1 {
		t.Fatalf("federation=b through the relay: %d %s", resp.StatusCode, body)
	}
	if w := resp.Header.Get("Warning"); !strings.Contains(w, `peer b failed: provenance`) {
		t.Fatalf("tampered answer: Warning %q", w)
	}
	hdr[HeaderScope] = "all"
	resp, _, _ = get(t, ae.srv.URL+"/dicomweb/studies", hdr)
	if got := resp.Header.Values("Warning"); resp.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("header scope: %d %q", resp.StatusCode, got)
	}
	resp, _, _ = get(t, a.srv.URL+"/dicomweb/studies?federation=nobody", nil)
	if resp.StatusCode != 400 {
		t.Fatalf("unknown peer in scope: %d", resp.StatusCode)
	}
}

// TestProxyStreamsAndVerifies: an instance relayed from b arrives byte
// for byte; the same relayed through the tampering relay is cut before it completes;
// tampered metadata is refused with 502 before any byte is sent.
func TestProxyStreamsAndVerifies(t *testing.T) {
	a, ae, _, man := pair(t)
	f := man.Studies()[1].Series[0].Files[0]
	want, _ := os.ReadFile(man.Abs(f))
	path := "/studies/" + f.StudyUID + "/series/" + f.SeriesUID + "/instances/" + f.SOPUID
	hdr := map[string]string{"Accept": `multipart/related; type="application/dicom"; transfer-syntax=*`}
	resp, body, err := get(t, a.srv.URL+"/dicomweb/peers/b"+path, hdr)
	if err != nil || resp.StatusCode != 200 || !bytes.Contains(body, want) {
		t.Fatalf("relayed instance: %d, %v, contains the file %v", resp.StatusCode, err, bytes.Contains(body, want))
	}
	resp, body, err = get(t, ae.srv.URL+"/dicomweb/peers/b"+path, hdr)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("tampered instance: status %d, read error %v, %d bytes: must be cut", resp.StatusCode, err, len(body))
	}
	resp, body, _ = get(t, ae.srv.URL+"/dicomweb/peers/b/studies/"+f.StudyUID+"/metadata", nil)
	if resp.StatusCode != 502 || !strings.Contains(string(body), "peer b failed: provenance") {
		t.Fatalf("tampered metadata: %d %s", resp.StatusCode, body)
	}
	resp, body, _ = get(t, a.srv.URL+"/dicomweb/peers/b/studies/"+f.StudyUID+"/metadata", nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), ae.srv.URL) || !strings.Contains(string(body), a.srv.URL+"/dicomweb/peers/b/studies/") {
		t.Fatalf("metadata: %d %.200s", resp.StatusCode, body)
	}
	if st, ste := a.fed.Status(), ae.fed.Status(); !st[0].Up || ste[0].Up || !strings.Contains(ste[0].LastError, "provenance") {
		t.Fatalf("status after tampering: direct %+v, through the relay %+v", st, ste)
	}
	resp, _, _ = get(t, a.srv.URL+"/dicomweb/peers/b/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/frames/1", nil)
	if resp.StatusCode != 400 && resp.StatusCode != 404 {
		t.Fatalf("non-DICOMweb path through the proxy: %d", resp.StatusCode)
	}
}
