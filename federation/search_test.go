package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

// studyJSON is a QIDO-RS study result.
func studyJSON(uid, institution string) map[string]any {
	return map[string]any{
		"0020000D": map[string]any{"vr": "UI", "Value": []any{uid}},
		"00081190": map[string]any{"vr": "UR", "Value": []any{"http://peer.internal/dicomweb/studies/" + uid}},
		"00111006": map[string]any{"vr": "LO", "Value": []any{"tag for " + institution}},
	}
}

func answerStudies(uids ...string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, inst string) {
		var out []map[string]any
		for _, u := range uids {
			out = append(out, studyJSON(u, inst))
		}
		w.Header().Set("Content-Type", "application/dicom+json")
		json.NewEncoder(w).Encode(out)
	}
}

// federationOf builds asking gateway "a" with the given holders as peers;
// each holder knows "a".
func federationOf(t *testing.T, mod func(*Options), holders ...func(svc *Service) *fakePeer) (*Service, []*fakePeer) {
	t.Helper()
	a := newGW(t, "a", "110000")
	var peers []Peer
	var fps []*fakePeer
	for i, h := range holders {
		g := newGW(t, fmt.Sprintf("p%d", i+1), "310000")
		fp := h(g.service(t, []Peer{a.peer("http://a.example/dicomweb")}, nil))
		fps = append(fps, fp)
		peers = append(peers, g.peer(fp.srv.URL+"/dicomweb"))
	}
	return a.service(t, peers, mod), fps
}

// TestSearchPartialResults: one good peer, one slow, one tampering, one
// down, one with garbage: the search returns within the deadline with the
// good peer's results, each failure named.
func TestSearchPartialResults(t *testing.T) {
	start := func(answer func(http.ResponseWriter, *http.Request, string), mod func(*fakePeer)) func(*Service) *fakePeer {
		return func(s *Service) *fakePeer {
			fp := startFakePeer(t, s, answer)
			if mod != nil {
				mod(fp)
			}
			return fp
		}
	}
	a, fps := federationOf(t, func(o *Options) { o.Timeout = 300 * time.Millisecond },
		start(answerStudies("1.2.1", "1.2.2", "1.9"), nil),
		start(answerStudies("1.3.1"), func(fp *fakePeer) { fp.delay = 5 * time.Second }),
		start(answerStudies("1.4.1", "1.4.2"), func(fp *fakePeer) { fp.tamper = true }),
		start(answerStudies("1.5.1"), func(fp *fakePeer) { fp.srv.Close() }),
		start(func(w http.ResponseWriter, r *http.Request, _ string) {
			w.Header().Set("Content-Type", "application/dicom+json")
			w.Write([]byte(`[{"0020000D":{"vr":"UI","Value":["../../etc"]}}]`))
		}, nil),
	)
	_ = fps
	q := url.Values{"PatientID": {"P1"}}
	t0 := time.Now()
	answers := a.Search(context.Background(), a.Peers(), q, Asking{Institution: "pumch", User: "dr.li"})
	if el := time.Since(t0); el > time.Second {
		t.Fatalf("search took %s with a 300ms deadline", el)
	}
	kinds := []string{"", KindTimeout, KindProvenance, KindUnreachable, KindInvalid}
	for i, ans := range answers {
		var kind string
		if pe, ok := ans.Err.(*PeerError); ok {
			kind = pe.Kind
		} else if ans.Err != nil {
			kind = "other: " + ans.Err.Error()
		}
		if kind != kinds[i] {
			t.Errorf("peer %s: kind %q (%v), want %q", ans.Peer.Name, kind, ans.Err, kinds[i])
		}
	}
	local := []Item{mustItem(t, studyJSON("1.9", "local"))}
	items, warnings := a.Merge(local, answers, "https://a.example/dicomweb")
	var uids, holders []string
	for _, it := range items {
		u, _ := it.StudyUID()
		uids = append(uids, u)
		var h element
		json.Unmarshal(it[TagHoldingGateway], &h)
		holders = append(holders, h.Value[0].(string))
	}
	if got, want := strings.Join(uids, " "), "1.9 1.2.1 1.2.2"; got != want {
		t.Fatalf("merged %s, want %s (local first, de-duplicated)", got, want)
	}
	if got, want := strings.Join(holders, " "), "a p1 p1"; got != want {
		t.Fatalf("holders %s, want %s", got, want)
	}
	var ru element
	json.Unmarshal(items[1][tagRetrieveURL], &ru)
	if ru.Value[0] != "https://a.example/dicomweb/peers/p1/studies/1.2.1" {
		t.Fatalf("RetrieveURL %v", ru.Value)
	}
	var tag element
	json.Unmarshal(items[1]["00111006"], &tag)
	if tag.Value[0] != "tag for pumch" {
		t.Fatalf("the peer did not see the asking institution: %v", tag.Value)
	}
	if len(warnings) != 4 {
		t.Fatalf("warnings %q", warnings)
	}
	for i, w := range warnings {
		if !strings.HasPrefix(w, `299 gateway "peer p`) || !strings.Contains(w, fmt.Sprintf("p%d failed: ", i+2)) {
			t.Errorf("warning %q", w)
		}
	}
	if st := a.Status(); !st[0].Up || st[1].Up || st[1].Failures != 1 || st[0].LastSuccess == nil {
		t.Fatalf("status %+v", st)
	}
}

func mustItem(t *testing.T, v any) Item {
	b, _ := json.Marshal(v)
	var it Item
	if err := json.Unmarshal(b, &it); err != nil {
		t.Fatal(err)
	}
	return it
}

// TestSearchBoundsAnswers: a peer's answer larger than the limit fails;
// more results than the limit are truncated.
func TestSearchBoundsAnswers(t *testing.T) {
	var many []string
	for i := 0; i < 50; i++ {
		many = append(many, fmt.Sprintf("1.2.%d", i))
	}
	a, _ := federationOf(t, func(o *Options) { o.MaxResults = 10; o.MaxAnswerBytes = 64 << 10 },
		func(s *Service) *fakePeer { return startFakePeer(t, s, answerStudies(many...)) },
		func(s *Service) *fakePeer {
			return startFakePeer(t, s, func(w http.ResponseWriter, r *http.Request, _ string) {
				w.Header().Set("Content-Type", "application/dicom+json")
				w.Write([]byte("[" + strings.Repeat(" ", 200<<10) + "]"))
			})
		})
	ans := a.Search(context.Background(), a.Peers(), url.Values{}, Asking{})
	if ans[0].Err != nil || len(ans[0].Items) != 10 || !ans[0].Truncated {
		t.Fatalf("many results: %d items, truncated %v, err %v", len(ans[0].Items), ans[0].Truncated, ans[0].Err)
	}
	if ans[1].Err == nil || !strings.Contains(ans[1].Err.Error(), "more than") {
		t.Fatalf("oversized answer: %v", ans[1].Err)
	}
}

// TestSearchGoroutinesBounded: hanging peers cost nothing once the
// deadline has passed.
func TestSearchGoroutinesBounded(t *testing.T) {
	var holders []func(*Service) *fakePeer
	for i := 0; i < 8; i++ {
		holders = append(holders, func(s *Service) *fakePeer {
			fp := startFakePeer(t, s, answerStudies("1.2"))
			fp.delay = time.Hour
			return fp
		})
	}
	a, _ := federationOf(t, func(o *Options) { o.Timeout = 100 * time.Millisecond }, holders...)
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		for _, ans := range a.Search(context.Background(), a.Peers(), url.Values{}, Asking{}) {
			if pe, ok := ans.Err.(*PeerError); !ok || pe.Kind != KindTimeout {
				t.Fatalf("hanging peer: %v", ans.Err)
			}
		}
	}
	a.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines: %d before, %d after", before, after)
	}
}

// TestScope resolves federation scopes.
func TestScope(t *testing.T) {
	s := newGW(t, "a", "110000").service(t, []Peer{
		newGW(t, "b", "310000").peer("http://b/dicomweb"), newGW(t, "c", "440000").peer("http://c/dicomweb"),
	}, nil)
	for _, tc := range []struct {
		spec, want string
		bad        bool
	}{
		{"all", "b c", false}, {"true", "b c", false}, {"c", "c", false}, {"c, b,c", "c b", false},
		{"", "", true}, {"x", "", true}, {"b,http://evil", "", true},
	} {
		ps, err := s.Scope(tc.spec)
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		if (err != nil) != tc.bad || strings.Join(names, " ") != tc.want {
			t.Errorf("Scope(%q) = %v, %v", tc.spec, names, err)
		}
	}
}

// TestCheckRetrievePath accepts DICOMweb resources of a study only.
func TestCheckRetrievePath(t *testing.T) {
	good := []string{
		"/studies/1.2", "/studies/1.2/metadata", "/studies/1.2/rendered", "/studies/1.2/series",
		"/studies/1.2/instances", "/studies/1.2/series/3.4", "/studies/1.2/series/3.4/metadata",
		"/studies/1.2/series/3.4/instances", "/studies/1.2/series/3.4/instances/5.6",
		"/studies/1.2/series/3.4/instances/5.6/frames/1,3,5", "/studies/1.2/series/3.4/instances/5.6/thumbnail",
		"/studies/1.2/series/3.4/instances/5.6/bulkdata/7FE00010", "/studies/1.2/series/3.4/instances/5.6/frames/2/rendered",
	}
	bad := []string{
		"/studies", "/studies/", "/studies/1.2/../../admin", "/studies/abc", "/series/1.2", "/studies/1.2/series/3.4/frames/1",
		"/studies/1.2/metadata/x", "/studies/1.2/series/3.4/instances/5.6/frames/a", "/studies/1.2/series/3.4/instances/5.6/bulkdata/../x",
		"/api/v1/admin/tokens", "/studies/1.2//metadata", "/studies/1.2/wado",
	}
	for _, p := range good {
		if got, err := CheckRetrievePath(p); err != nil || got != p {
			t.Errorf("%s refused: %v", p, err)
		}
	}
	for _, p := range bad {
		if _, err := CheckRetrievePath(p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}

// TestParsePeers reads a peers file and names the line of a bad entry.
func TestParsePeers(t *testing.T) {
	k := EncodePublicKey(newGW(t, "x", "110000").key.Public().(ed25519.PublicKey))
	good := "peers:\n  - name: shanghai\n    province: \"310000\"\n    url: https://sh.example.cn/dicomweb/\n    public_key: " + k + "\n"
	ps, err := ParsePeers("peers.yaml", []byte(good))
	if err != nil || len(ps) != 1 || ps[0].URL != "https://sh.example.cn/dicomweb" {
		t.Fatalf("good file: %+v %v", ps, err)
	}
	for name, text := range map[string]string{
		"bad url":      strings.Replace(good, "https://sh.example.cn/dicomweb/", "ftp://x", 1),
		"credentials":  strings.Replace(good, "https://sh.example.cn", "https://u:p@sh.example.cn", 1),
		"bad key":      strings.Replace(good, k, "AAAA", 1),
		"bad province": strings.Replace(good, `"310000"`, "shanghai", 1),
		"unknown key":  good + "    colour: red\n",
		"duplicate":    good + strings.TrimPrefix(good, "peers:\n"),
	} {
		_, err := ParsePeers("peers.yaml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "peers.yaml") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePeers("p.json", []byte(`{"peers":[{"name":"gd","province":"440000","url":"http://127.0.0.1:9/dicomweb","public_key":"`+k+`"}]}`)); err != nil {
		t.Fatalf("JSON file: %v", err)
	}
}
