package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// procStatus reads a field (in kB) of /proc/PID/status.
func procStatus(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

func openFiles(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// goroutines reads go_goroutines from the gateway's /metrics.
func goroutines(t *testing.T, root string) int {
	resp, body := gwtest.Do(t, "GET", root+"/metrics", nil, nil)
	if resp.StatusCode != 200 {
		return -1
	}
	for _, ln := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(ln, "go_goroutines "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

type latencies struct {
	mu  sync.Mutex
	d   []time.Duration
	err int
}

func (l *latencies) add(d time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.d = append(l.d, d)
	} else {
		l.err++
	}
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestLoadWithBombs runs a mixed load (QIDO, metadata and frames readers,
// ramped 1-4-2, plus a STOW client) against a real gateway, first alone,
// then while attackers send a multipart bomb
// (hundreds of megabytes in one part), DICOM bombs (4 GB lengths, deep
// nesting) and never-ending bodies. The gateway's RSS must stay below
// 512 MB, normal clients must see no error, and goroutines and open files
// must come back to their level before the attack. It reports p50/p99 of
// the normal clients with and without the attack.
func TestLoadWithBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 seconds")
	}
	p := startGateway(t, t.TempDir(), "--max-instance-bytes", strconv.Itoa(300<<20))
	root := strings.TrimSuffix(p.base, "/dicomweb")
	man := smallCorpus(t, 6)
	var paths []string
	for _, f := range man.Files {
		paths = append(paths, man.Abs(f))
	}
	if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
		t.Fatalf("load: %d %s", resp.StatusCode, body)
	}
	pid := p.cmd.Process.Pid
	files := man.Files
	client := &http.Client{Timeout: 30 * time.Second}
	// A second corpus feeds the STOW client: instances not stored yet.
	fresh := smallCorpus2(t)
	var nextFresh atomic.Int64
	var stowBytes atomic.Int64
	stower := func(stop <-chan struct{}, lat *latencies) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := int(nextFresh.Add(1)) - 1
			if i >= len(fresh.Files) {
				<-stop
				return
			}
			f := fresh.Files[i]
			b, _ := os.ReadFile(fresh.Abs(f))
			body, ct := gwtest.Multipart([]gwtest.Part{{Body: b}})
			req, _ := http.NewRequest("POST", p.base+"/studies", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			start := time.Now()
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if ok {
				stowBytes.Add(int64(len(b)))
			}
			lat.add(time.Since(start), ok)
		}
	}
	normal := func(stop <-chan struct{}, lat *latencies, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for {
			select {
			case <-stop:
				return
			default:
			}
			f := files[rng.IntN(len(files))]
			var u, accept string
			switch rng.IntN(3) {
			case 0:
				u, accept = p.base+"/studies?PatientID="+f.PatientID, "application/dicom+json"
			case 1:
				u, accept = p.base+"/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/metadata", "application/dicom+json"
			default:
				u, accept = p.base+"/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/instances/"+f.SOPUID+"/frames/1", "multipart/related; type=application/octet-stream; transfer-syntax=*"
			}
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Accept", accept)
			start := time.Now()
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat.add(time.Since(start), ok)
		}
	}
	phase := func(d time.Duration, readers int, attack func(stop <-chan struct{})) (*latencies, int) {
		lat := &latencies{}
		stow := &latencies{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < readers; i++ {
			wg.Add(1)
			go func(i int) { defer wg.Done(); normal(stop, lat, uint64(i)) }(i)
		}
		wg.Add(1)
		go func() { defer wg.Done(); stower(stop, stow) }()
		b0, t0 := stowBytes.Load(), time.Now()
		defer func() {
			mbs := float64(stowBytes.Load()-b0) / 1e6 / time.Since(t0).Seconds()
			t.Logf("  %d readers: reads p50 %v p99 %v (%d), STOW p50 %v p99 %v (%d, %.1f MB/s), errors %d",
				readers, lat.pct(0.5), lat.pct(0.99), len(lat.d), stow.pct(0.5), stow.pct(0.99), len(stow.d), mbs, lat.err+stow.err)
			lat.err += stow.err
		}()
		var peak atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if r := int64(procStatus(pid, "VmRSS")); r > peak.Load() {
						peak.Store(r)
					}
				}
			}
		}()
		if attack != nil {
			wg.Add(1)
			go func() { defer wg.Done(); attack(stop) }()
		}
		time.Sleep(d)
		close(stop)
		wg.Wait()
		return lat, int(peak.Load() / 1024)
	}

	client.CloseIdleConnections()
	g0, fd0 := goroutines(t, root), openFiles(pid)
	// Ramp: 1, 2 then 4 readers, a STOW client throughout.
	phase(2*time.Second, 1, nil)
	phase(2*time.Second, 4, nil)
	base, rssBase := phase(3*time.Second, 2, nil)

	var refused, attacks atomic.Int64
	bomb := func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		post := func(body io.Reader, ct string) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", p.base+"/studies", body)
			req.Header.Set("Content-Type", ct)
			resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
			attacks.Add(1)
			if err != nil || resp.StatusCode >= 400 {
				refused.Add(1)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		// 1. One part of 250 MB of junk, streamed.
		wg.Add(1)
		go func() {
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("--b\r\nContent-Type: application/dicom\r\n\r\n"))
				chunk := bytes.Repeat([]byte{0x41}, 1<<20)
				for i := 0; i < 250; i++ {
					if _, err := pw.Write(chunk); err != nil {
						return
					}
				}
				pw.Write([]byte("\r\n--b--\r\n"))
				pw.Close()
			}()
			post(pr, `multipart/related; type="application/dicom"; boundary=b`)
		}()
		// 2. DICOM bombs, over and over.
		ok := gwtest.Minimal("1.2.826.0.1.66.1", "1.2.826.0.1.66.1.2", "1.2.826.0.1.66.1.3")
		huge := append(bytes.Clone(ok), 0x09, 0x00, 0x10, 0x00, 'O', 'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF)
		var deep bytes.Buffer
		deep.Write(ok)
		for i := 0; i < 20000; i++ {
			deep.Write([]byte{0x40, 0x00, 0x75, 0x02, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF})
		}
		bombs := [][]byte{
			gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.66.1.3", huge),
			gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.66.1.3", deep.Bytes()),
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				wg.Wait()
				return
			case <-time.After(100 * time.Millisecond):
			}
			body, ct := gwtest.Multipart([]gwtest.Part{{Body: bombs[i%2]}})
			wg.Add(1)
			go post(bytes.NewReader(body), ct)
			// 3. A body that never ends: drip a few bytes, then stop
			// sending (the client times out).
			if i%10 == 0 {
				wg.Add(1)
				go func() {
					pr, pw := io.Pipe()
					go func() {
						pw.Write([]byte("--b\r\nContent-Type: application/dicom\r\n\r\nDICM"))
						<-stop
						pw.CloseWithError(io.ErrUnexpectedEOF)
					}()
					post(pr, `multipart/related; type="application/dicom"; boundary=b`)
				}()
			}
		}
	}
	attacked, rssAttack := phase(6*time.Second, 2, bomb)

	// Back to the level before the attack.
	client.CloseIdleConnections()
	var g1, fd1 int
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		g1, fd1 = goroutines(t, root), openFiles(pid)
		if g1 <= g0+5 && fd1 <= fd0+5 {
			break
		}
	}
	ratio := float64(attacked.pct(0.99)) / float64(max(base.pct(0.99), time.Millisecond))
	t.Logf("baseline: %d requests, p50 %v p99 %v, RSS peak %d MB", len(base.d), base.pct(0.5), base.pct(0.99), rssBase)
	t.Logf("under attack: %d requests, p50 %v p99 %v (%.1fx), RSS peak %d MB; %d attacks, %d refused",
		len(attacked.d), attacked.pct(0.5), attacked.pct(0.99), ratio, rssAttack, attacks.Load(), refused.Load())
	t.Logf("goroutines %d -> %d, open files %d -> %d", g0, g1, fd0, fd1)
	fmt.Printf("LOAD: base_p99=%v attack_p99=%v ratio=%.1f rss_peak_mb=%d errors=%d goroutines=%d->%d fds=%d->%d\n",
		base.pct(0.99), attacked.pct(0.99), ratio, rssAttack, base.err+attacked.err, g0, g1, fd0, fd1)

	if base.err+attacked.err > 0 {
		t.Errorf("normal clients saw %d errors", base.err+attacked.err)
	}
	if rssAttack >= 512 {
		t.Errorf("RSS reached %d MB under attack (bar: below 512 MB)", rssAttack)
	}
	if refused.Load() != attacks.Load() || attacks.Load() < 10 {
		t.Errorf("%d of %d attacks refused", refused.Load(), attacks.Load())
	}
	if g1 > g0+5 || fd1 > fd0+5 {
		t.Errorf("goroutines %d -> %d, open files %d -> %d after the attack", g0, g1, fd0, fd1)
	}
	// The p99 bar (2x) is checked strictly only on a quiet machine: on the
	// shared 2-core CI machine the attack and the clients compete for CPU.
	if os.Getenv("GATEWAY_STRICT_LOAD") == "1" && ratio > 2 {
		t.Errorf("p99 under attack is %.1fx the baseline (bar: 2x)", ratio)
	}
}

// smallCorpus2 is a corpus distinct from smallCorpus's (another seed).
func smallCorpus2(t *testing.T) *corpus.Manifest {
	t.Helper()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 100, SeriesPerStudy: 2, InstancesPerSeries: 5, Seed: 77,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return man
}
