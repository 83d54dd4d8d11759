package fedapi

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/internal/corpus"
)

// BenchmarkFederatedSearch measures a federated QIDO-RS study search from
// one gateway over 3, 10 and 30 in-process peers (each a real archive and
// index holding 2 studies of its own), against the same search answered
// locally. Every peer answer is signed, verified, validated and merged.
//
//	go test -run '^$' -bench FederatedSearch -benchtime 200x ./httpapi/fedapi
func BenchmarkFederatedSearch(b *testing.B) {
	const perPeer, maxPeers = 2, 30
	man, err := corpus.Generate(b.TempDir(), corpus.Options{Studies: perPeer*maxPeers + 2, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 9,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	studies := man.Studies()
	askerKey := newKey(b)
	asker := func(peers []federation.Peer) *node {
		a := &node{name: "a", province: "110000", key: askerKey}
		a.start(b, peers, clinician, func(o *federation.Options) { o.Timeout = 5 * time.Second })
		a.stow(b, man, studies[:2]...)
		return a
	}
	var holders []federation.Peer
	for i := 0; i < maxPeers; i++ {
		h := &node{name: fmt.Sprintf("p%02d", i), province: "310000", key: newKey(b)}
		h.start(b, []federation.Peer{{Name: "a", Province: "110000", URL: "http://unused/dicomweb", PublicKey: askerKey.Public().(ed25519.PublicKey)}},
			auth.Principal{Role: auth.RoleAdmin}, nil)
		h.stow(b, man, studies[2+i*perPeer:2+(i+1)*perPeer]...)
		holders = append(holders, h.peer(h.srv.URL+"/dicomweb"))
	}
	run := func(b *testing.B, url string, want int) {
		client := &http.Client{}
		for b.Loop() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Accept", "application/dicom+json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Warning") != "" {
				b.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Warning"), body)
			}
			_ = want
		}
		b.ReportMetric(float64(want), "studies/op")
	}
	local := asker(nil)
	b.Run("local", func(b *testing.B) { run(b, local.srv.URL+"/dicomweb/studies", 2) })
	for _, n := range []int{3, 10, 30} {
		a := asker(holders[:n])
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			run(b, a.srv.URL+"/dicomweb/studies?federation=all", 2+n*perPeer)
		})
	}
}

// hangingPeers listens on n loopback ports, accepts connections and never
// answers (nor reads).
func hangingPeers(b *testing.B, n int) []string {
	var urls []string
	var mu sync.Mutex
	var conns []net.Conn
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		urls = append(urls, "http://"+ln.Addr().String()+"/dicomweb")
	}
	b.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return urls
}

// BenchmarkFederatedSearchHanging runs federated searches from 8
// concurrent clients against 30 peers that accept connections and never
// answer, with a 200 ms deadline. It reports goroutines before, at the
// peak and after (every per-peer goroutine and connection is gone), and
// the heap after a GC.
//
//	go test -run '^$' -bench FederatedSearchHanging -benchtime 40x ./httpapi/fedapi
func BenchmarkFederatedSearchHanging(b *testing.B) {
	const n, clients = 30, 8
	var peers []federation.Peer
	for i, u := range hangingPeers(b, n) {
		peers = append(peers, federation.Peer{Name: fmt.Sprintf("h%02d", i), Province: "440000", URL: u, PublicKey: newKey(b).Public().(ed25519.PublicKey)})
	}
	a := &node{name: "a", province: "110000", key: newKey(b)}
	a.start(b, peers, clinician, func(o *federation.Options) { o.Timeout = 200 * time.Millisecond })
	url := a.srv.URL + "/dicomweb/studies?federation=all"
	settle := func() int {
		http.DefaultClient.CloseIdleConnections()
		a.fed.Close()
		runtime.GC()
		time.Sleep(300 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if g := int64(runtime.NumGoroutine()); g > peak.Load() {
					peak.Store(g)
				}
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Accept", "application/dicom+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || len(resp.Header.Values("Warning")) != n {
					b.Errorf("%d, %d warnings", resp.StatusCode, len(resp.Header.Values("Warning")))
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(stop)
	after := settle()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(before), "goroutines-before")
	b.ReportMetric(float64(peak.Load()), "goroutines-peak")
	b.ReportMetric(float64(after), "goroutines-after")
	b.ReportMetric(float64(int64(ms.HeapInuse)-int64(heapBefore))/(1<<20), "heap-growth-MiB")
	if after > before+5 {
		b.Fatalf("goroutines leaked: %d before, %d after", before, after)
	}
}

// BenchmarkFederatedAnswerPath measures what the asking gateway spends on
// a study search over 40 local studies, answered locally and federated
// with one fast in-process peer holding one study (the peer's own work is
// included, the client's is not: the asker's handler is called directly).
// The difference between the two is the federated path's cost; before the
// QIDO handler called a Searcher, it included recording, decoding and
// re-encoding the 40 local results.
//
//	go test -run '^$' -bench FederatedAnswerPath -benchtime 200x ./httpapi/fedapi
func BenchmarkFederatedAnswerPath(b *testing.B) {
	const local = 40
	man, err := corpus.Generate(b.TempDir(), corpus.Options{Studies: local + 1, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	studies := man.Studies()
	a := &node{name: "a", province: "110000", key: newKey(b)}
	p := &node{name: "p", province: "310000", key: newKey(b)}
	p.start(b, []federation.Peer{a.peer("http://unused/dicomweb")}, auth.Principal{Role: auth.RoleAdmin}, nil)
	p.stow(b, man, studies[local])
	a.start(b, []federation.Peer{p.peer(p.srv.URL + "/dicomweb")}, clinician, func(o *federation.Options) { o.Timeout = 5 * time.Second })
	a.stow(b, man, studies[:local]...)
	h := a.srv.Config.Handler
	for _, bc := range []struct {
		name, query string
		want        int
	}{{"local", "", local}, {"federated", "?federation=p", local + 1}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/dicomweb/studies"+bc.query, nil)
				req.Header.Set("Accept", "application/dicom+json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 || rec.Header().Get("Warning") != "" || bytes.Count(rec.Body.Bytes(), []byte(`"0020000D"`)) != bc.want {
					b.Fatalf("%d %q: %d studies, want %d", rec.Code, rec.Header().Get("Warning"), bytes.Count(rec.Body.Bytes(), []byte(`"0020000D"`)), bc.want)
				}
			}
		})
	}
}
