package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// TestSearcherAsksPeersOnlyWhenAllowed: a refused asker and an off scope
// reach no peer; an unknown peer is refused; an allowed one reaches it once, with the parameters and
// the asking institution, and gets its results encoded, marked, after the
// local ones.
func TestSearcherAsksPeersOnlyWhenAllowed(t *testing.T) {
	var asked atomic.Int32
	var gotQuery atomic.Value
	a, _ := federationOf(t, nil, func(s *Service) *fakePeer {
		return startFakePeer(t, s, func(w http.ResponseWriter, r *http.Request, inst string) {
			asked.Add(1)
			gotQuery.Store(r.URL.RawQuery)
			answerStudies("1.2.1", "1.2.2")(w, r, inst)
		})
	})
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	local := archive.New(storagetest.NewMemory(), db, archive.Options{TempDir: t.TempDir()})
	refuse := errors.New("not you")
	allowed := true
	s := a.Searcher(local, func(context.Context) error {
		if !allowed {
			return refuse
		}
		return nil
	}, func(context.Context) Asking { return Asking{Institution: "pumch", User: "dr.li"} })
	scope := archive.Scope{Federated: true, Peers: "all", Params: url.Values{"PatientID": {"P1"}}, Base: "https://a.example/dicomweb"}

	allowed = false
	if _, err := s.Search(t.Context(), archive.Query{}, scope); !errors.Is(err, refuse) {
		t.Fatalf("refused asker: %v", err)
	}
	off := scope
	off.Peers = " None "
	if res, err := s.Search(t.Context(), archive.Query{}, off); err != nil || len(res.Remote) != 0 {
		t.Fatalf("off scope: %v %+v", err, res)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("peers asked %d times for a refused asker or an off scope", n)
	}

	allowed = true
	if _, err := s.Search(t.Context(), archive.Query{}, archive.Scope{Federated: true, Peers: "nobody"}); !errors.Is(err, ErrBadScope) {
		t.Fatalf("unknown peer: %v", err)
	}
	res, err := s.Search(t.Context(), archive.Query{}, scope)
	if err != nil || asked.Load() != 1 || len(res.Remote) != 2 || len(res.Warnings) != 0 {
		t.Fatalf("allowed: %v, asked %d, %d remote, warnings %q", err, asked.Load(), len(res.Remote), res.Warnings)
	}
	if q, _ := gotQuery.Load().(string); q != "PatientID=P1" {
		t.Errorf("the peer was asked %q", q)
	}
	var it map[string]element
	if err := json.Unmarshal(res.Remote[0], &it); err != nil {
		t.Fatal(err)
	}
	if it[TagProvenance].Value[0] != ProvenanceVerified || it[tagRetrieveURL].Value[0] != "https://a.example/dicomweb/peers/p1/studies/1.2.1" ||
		!strings.HasSuffix(it["00111006"].Value[0].(string), "pumch") {
		t.Errorf("peer result %s", res.Remote[0])
	}
}
