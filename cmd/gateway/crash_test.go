package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestCrashCycles kills a real gateway with SIGKILL at random moments
// while four clients store instances, many times over. After each restart
// every acknowledged instance must be retrievable byte for byte, and fsck
// must find no index row without its object. It reports acknowledged,
// lost and dangling counts.
func TestCrashCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("crash cycles take about a minute")
	}
	cycles := 8
	if v, err := strconv.Atoi(os.Getenv("GATEWAY_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 60, SeriesPerStudy: 2, InstancesPerSeries: 5, Seed: 21,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	files := man.Files
	data := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 9))
	acked := map[string]bool{}
	var next atomic.Int64
	lost, dangling, ran := 0, 0, 0
	for cycle := 0; cycle < cycles && int(next.Load()) < len(files); cycle++ {
		ran++
		p := startGateway(t, data)
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					i := int(next.Add(1)) - 1
					if i >= len(files) {
						return
					}
					f := files[i]
					b, _ := os.ReadFile(man.Abs(f))
					body, ct := gwtest.Multipart([]gwtest.Part{{Body: b}})
					req, _ := http.NewRequest("POST", p.base+"/studies", bytes.NewReader(body))
					req.Header.Set("Content-Type", ct)
					resp, err := client.Do(req)
					if err != nil {
						return // the server died under us
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						acked[f.SOPUID] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		p.kill() // SIGKILL
		close(stop)
		wg.Wait()

		out, _ := exec.Command(gatewayBinary(t), "fsck", "--data", data, "--no-auth").CombinedOutput()
		m := regexp.MustCompile(`(\d+) dangling rows`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("fsck output: %s", out)
		}
		d, _ := strconv.Atoi(string(m[1]))
		dangling += d

		p = startGateway(t, data)
		for sop := range acked {
			f, _ := man.BySOP(sop)
			want, _ := os.ReadFile(man.Abs(f))
			resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+sop+"&contentType=application/dicom", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				lost++
				delete(acked, sop)
			}
		}
		p.kill()
	}
	t.Logf("crash cycles: %d, acknowledged %d, lost %d, dangling %d", ran, len(acked), lost, dangling)
	fmt.Printf("CRASH: cycles=%d acknowledged=%d lost=%d dangling=%d\n", ran, len(acked), lost, dangling)
	if lost != 0 || dangling != 0 {
		t.Fatalf("lost %d acknowledged instances, %d dangling rows", lost, dangling)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged: the test tested nothing")
	}
}
