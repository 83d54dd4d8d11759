package fedapi

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// TestFederatedSearchSemantics: limit bounds the merged answer (local
// first) with one Warning; offset reaches the peers unchanged; an off
// scope answers locally, even to a role that may not fan out; local
// results are the local answer's, byte for byte, plus the federation
// block; the scope is read at study level only.
func TestFederatedSearchSemantics(t *testing.T) {
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 3, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 7,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	st := man.Studies()
	a := &node{name: "a", province: "110000", key: newKey(t)}
	b := &node{name: "b", province: "310000", key: newKey(t)}
	b.start(t, []federation.Peer{a.peer("http://unused/dicomweb")}, auth.Principal{Role: auth.RoleAdmin}, nil)
	b.stow(t, man, st[1:]...)
	a.start(t, []federation.Peer{b.peer(b.srv.URL + "/dicomweb")}, clinician, nil)
	a.stow(t, man, st[0])
	hdr := map[string]string{"Accept": "application/dicom+json"}
	search := func(n *node, query string, want int) ([]map[string]json.RawMessage, []string) {
		t.Helper()
		resp, body, _ := get(t, n.srv.URL+"/dicomweb"+query, hdr)
		var items []map[string]json.RawMessage
		if resp.StatusCode != want || (want == 200 && json.Unmarshal(body, &items) != nil) {
			t.Fatalf("%s: %d %s, want %d", query, resp.StatusCode, body, want)
		}
		return items, resp.Header.Values("Warning")
	}
	uid := func(it map[string]json.RawMessage) string {
		var e struct{ Value []string }
		json.Unmarshal(it["0020000D"], &e)
		return e.Value[0]
	}
	mark := func(it map[string]json.RawMessage) string { return string(it[federation.TagProvenance]) }

	items, warnings := search(a, "/studies?federation=b&limit=2", 200)
	if len(items) != 2 || uid(items[0]) != st[0].StudyUID || !strings.Contains(mark(items[0]), "LOCAL") || !strings.Contains(mark(items[1]), "VERIFIED") {
		t.Fatalf("limit=2: %d items, first %s", len(items), items[0])
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "additional results") {
		t.Fatalf("limit=2: warnings %q", warnings)
	}
	items, _ = search(a, "/studies?federation=b&offset=1", 200)
	if len(items) != 1 || uid(items[0]) == st[0].StudyUID || !strings.Contains(mark(items[0]), "VERIFIED") {
		t.Fatalf("offset=1: %d items %s", len(items), items)
	}

	local, _ := search(a, "/studies", 200)
	fed, _ := search(a, "/studies?federation=all", 200)
	if len(local) != 1 || len(fed) != 3 {
		t.Fatalf("local %d, federated %d items", len(local), len(fed))
	}
	for tag, v := range local[0] {
		if string(fed[0][tag]) != string(v) {
			t.Errorf("local result %s: federated %s, local %s", tag, fed[0][tag], v)
		}
	}
	if len(fed[0]) != len(local[0])+4 || !strings.Contains(string(fed[0][federation.TagHoldingGateway]), `"a"`) {
		t.Errorf("local result in the federated answer: %d attributes, local %d, holder %s", len(fed[0]), len(local[0]), fed[0][federation.TagHoldingGateway])
	}
	if ru := string(fed[1]["00081190"]); !strings.Contains(ru, a.srv.URL+"/dicomweb/peers/b/studies/"+uid(fed[1])) {
		t.Errorf("peer result's RetrieveURL %s", ru)
	}

	for _, q := range []string{"/studies?federation=none", "/studies?federation=false&limit=5"} {
		if items, _ := search(a, q, 200); len(items) != 1 || items[0][federation.TagPrivateCreator] != nil {
			t.Errorf("%s: %d items %s, want the local answer alone", q, len(items), items)
		}
	}
	search(a, "/series?federation=b", 400) // an unknown attribute below study level
	search(a, "/studies?federation=", 400)

	patient := &node{name: "a", province: "110000", key: a.key}
	patient.start(t, []federation.Peer{b.peer(b.srv.URL + "/dicomweb")}, auth.Principal{Role: auth.RolePatient}, nil)
	search(patient, "/studies?federation=b", 403)
	search(patient, "/studies?federation=none", 200)
	hdr[HeaderScope] = "b"
	search(patient, "/studies", 403)
}

// TestSearchWithoutFederation: a gateway without peers takes the
// federation parameter for an unknown attribute and ignores the header;
// its archive refuses a federated scope rather than answer for itself
// alone.
func TestSearchWithoutFederation(t *testing.T) {
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := archive.New(storagetest.NewMemory(), db, archive.Options{TempDir: t.TempDir()})
	srv := httptest.NewServer(server.New(svc, server.Options{}))
	t.Cleanup(srv.Close)
	resp, body, _ := get(t, srv.URL+"/dicomweb/studies?federation=all", map[string]string{"Accept": "application/dicom+json"})
	if resp.StatusCode != 400 || !strings.Contains(string(body), `unknown attribute \"federation\"`) {
		t.Fatalf("federation parameter without peers: %d %s", resp.StatusCode, body)
	}
	resp, body, _ = get(t, srv.URL+"/dicomweb/studies", map[string]string{"Accept": "application/dicom+json", HeaderScope: "all"})
	if resp.StatusCode != 200 || string(body) != "[]" {
		t.Fatalf("scope header without peers: %d %s", resp.StatusCode, body)
	}
	_, err = svc.Search(t.Context(), archive.Query{}, archive.Scope{Federated: true, Peers: "all"})
	var inv *archive.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("archive with a federated scope: %v", err)
	}
}
