package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestAuditFloodOnFullDisk replays finding 3 of issue 14 on a real gateway
// whose index lives on a small tmpfs: an anonymous flood (200 KB paths
// among them) costs almost no disk; once the disk is nearly full, every
// write path answers 503 with a clear message, anonymous clients get
// 401/429, the process stays up, restarts while still full, and works
// again (with a verifying audit trail) once space is freed.
func TestAuditFloodOnFullDisk(t *testing.T) {
	data := t.TempDir()
	idx := filepath.Join(data, "index")
	mountTmpfs(t, idx, "16m")
	const guard = 4 << 20
	args := []string{"--admin-token", fedAdmin, "--min-free-bytes", "4194304", "--rate-limit", "0"}
	p := startGatewayArgs(t, data, args...)
	root := strings.TrimSuffix(p.base, "/dicomweb")
	auth := map[string]string{"Authorization": "Bearer " + fedAdmin, "Content-Type": "application/json"}
	used := func() int64 {
		free, err := diskspace.Free(idx)
		if err != nil {
			t.Fatal(err)
		}
		return 16<<20 - free
	}

	// A clinician token, made while there is room.
	registerInstitution(t, root, strings.TrimPrefix(auth["Authorization"], "Bearer "), "h1")
	resp, body := gwtest.Do(t, "POST", root+"/api/v1/admin/tokens", auth,
		strings.NewReader(`{"role":"clinician","institution":"h1","user":"dr.wang"}`))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("create token: %d %s", resp.StatusCode, body)
	}
	var tok struct{ Token string }
	json.Unmarshal(body, &tok)
	clin := map[string]string{"Authorization": "Bearer " + tok.Token}

	// The flood: 4 anonymous clients, 2 seconds, one path in ten of 200 KB.
	before := used()
	codes := flood(t, root, 4, 2*time.Second)
	if bad := codes[0]; bad > 0 {
		t.Fatalf("%d flood requests got no answer: the gateway died?\n%s", bad, tail(p.log.String(), 3000))
	}
	for code := range codes {
		if code != 401 && code != 429 {
			t.Fatalf("flood answers %v: only 401 and 429 expected", codes)
		}
	}
	grown := used() - before
	t.Logf("flood of %d requests (%v) grew the index volume by %d bytes", codes[401]+codes[429], codes, grown)
	if grown > 1<<20 {
		t.Fatalf("the anonymous flood wrote %d bytes", grown)
	}

	// Fill the volume until less than the guard is free.
	free, _ := diskspace.Free(idx)
	filler := filepath.Join(idx, "filler")
	if err := os.WriteFile(filler, make([]byte, free-guard+(1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	full := func(p *proc) {
		t.Helper()
		time.Sleep(1200 * time.Millisecond) // the flooded address gets a token back
		root := strings.TrimSuffix(p.base, "/dicomweb")
		for _, c := range []struct {
			name, method, path string
			hdr                map[string]string
			body               string
		}{
			{"clinician reads (audited)", "GET", "/dicomweb/studies", clin, ""},
			{"admin writes a record", "POST", "/api/v1/admin/tokens", auth, `{"role":"clinician","institution":"h1","user":"x"}`},
			{"admin reads the audit trail", "GET", "/api/v1/admin/audit", auth, ""},
		} {
			var r io.Reader
			if c.body != "" {
				r = strings.NewReader(c.body)
			}
			resp, body := gwtest.Do(t, c.method, root+c.path, c.hdr, r)
			if resp.StatusCode != 503 || !strings.Contains(string(body), "disk almost full") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("disk full, %s: %d %s; want 503 naming the full disk, with Retry-After", c.name, resp.StatusCode, body)
			}
		}
		codes := flood(t, root, 4, time.Second)
		if codes[0] > 0 || codes[401]+codes[429] != sum(codes) {
			t.Fatalf("disk full, anonymous flood: %v (0: no answer)\n%s", codes, tail(p.log.String(), 3000))
		}
		if resp, _ := gwtest.Do(t, "GET", root+"/healthz", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("healthz on a full disk: %d", resp.StatusCode)
		}
	}
	full(p)

	// A restart while the disk is still full.
	p.kill()
	for _, line := range strings.Split(p.log.String(), "\n") {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: the request log copies what clients send: %.200s", len(line), line)
		}
	}
	p = startGatewayArgs(t, data, args...)
	full(p)

	// Space freed: everything works again, and the trail verifies (it
	// counts what it could not store).
	os.Remove(filler)
	time.Sleep(1200 * time.Millisecond) // the flooded address gets a token back
	root = strings.TrimSuffix(p.base, "/dicomweb")
	if resp, body := gwtest.Do(t, "GET", root+"/dicomweb/studies", clin, nil); resp.StatusCode != 200 {
		t.Fatalf("after freeing space: %d %s", resp.StatusCode, body)
	}
	if resp, body := gwtest.Do(t, "GET", root+"/api/v1/admin/audit/verify", auth, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"ok":true`)) {
		t.Fatalf("audit verify after the disk was full: %d %s", resp.StatusCode, body)
	}
	// The requests refused while the disk was full are counted, not lost
	// silently.
	if resp, body := gwtest.Do(t, "GET", root+"/api/v1/admin/audit", auth, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"AUDIT LOST"`)) {
		t.Fatalf("no AUDIT LOST event after the disk was full: %d %.2000s", resp.StatusCode, body)
	}
	p.kill()
	p = startGatewayArgs(t, data, args...)
	if resp, body := gwtest.Do(t, "GET", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/audit/verify", auth, nil); resp.StatusCode != 200 {
		t.Fatalf("audit verify after a restart: %d %s", resp.StatusCode, body)
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// flood sends anonymous requests with bad tokens from clients goroutines
// for d and counts the answers by status (0: no answer).
func flood(t *testing.T, root string, clients int, d time.Duration) map[int]int {
	t.Helper()
	long := "/dicomweb/studies/" + strings.Repeat("7", 200000)
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	hc := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				path := "/dicomweb/studies"
				if i%10 == 0 {
					path = long
				}
				req, _ := http.NewRequest("GET", root+path, nil)
				req.Header.Set("Authorization", "Bearer gw_nope_nopenopenopenope")
				code := 0
				if resp, err := hc.Do(req); err == nil {
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes
}
