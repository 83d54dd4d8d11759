package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// mountTmpfs mounts a size-limited tmpfs at dir (root only; CI runs as
// root). Outside CI, a machine that cannot mount skips the test loudly.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "cannot mount a small tmpfs for the disk-full test: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED (run as root): " + msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// TestDiskFull fills the folder of the object store, then that of the
// index, with a real gateway writing to each: no instance is acknowledged
// that is not stored, the error is a clear 503, storing works again once
// space is freed, and after a restart every acknowledged instance is
// retrievable and fsck finds no row without its object.
func TestDiskFull(t *testing.T) {
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 30, SeriesPerStudy: 2, InstancesPerSeries: 5, Seed: 31,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"objects", "index"} {
		t.Run(target, func(t *testing.T) {
			data := t.TempDir()
			full := filepath.Join(data, target)
			mountTmpfs(t, full, "12m")
			// A filler leaves a few megabytes, and is what we free later.
			filler := filepath.Join(full, "filler")
			size := 6 << 20
			if err := os.WriteFile(filler, make([]byte, size), 0o600); err != nil {
				t.Fatal(err)
			}
			// The objects folder meets a real ENOSPC (no guard); the index
			// folder is guarded (4 MB kept free), since Badger writes into
			// memory-mapped files and a full disk would kill it with SIGBUS.
			guard := []string{"--min-free-bytes", "0"}
			if target == "index" {
				guard = []string{"--min-free-bytes", "4194304"}
			}
			p := startGateway(t, data, guard...)
			acked := map[string]bool{}
			var refused *http.Response
			var refusedBody []byte
			next := 0
			for ; next < len(man.Files) && refused == nil; next++ {
				f := man.Files[next]
				body, ct := gwtest.Multipart(gwtest.FileParts(t, man.Abs(f)))
				resp, err := http.Post(p.base+"/studies", ct, bytes.NewReader(body))
				if err != nil {
					t.Fatalf("the gateway died when the %s folder filled up: %v\n%s", target, err, tail(p.log.String(), 3000))
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					acked[f.SOPUID] = true
				default:
					refused, refusedBody = resp, nil
				}
			}
			if refused == nil {
				t.Fatalf("%d instances stored on a 12 MB %s folder without a refusal", len(acked), target)
			}
			if refused.StatusCode != http.StatusServiceUnavailable && refused.StatusCode != http.StatusConflict {
				t.Fatalf("full %s: %d %s, want 503 (or 409 with the failure reason)", target, refused.StatusCode, refusedBody)
			}
			t.Logf("%s full after %d acknowledged instances: %d %s", target, len(acked), refused.StatusCode, refusedBody)
			os.Remove(filler)
			// Storing works again once space is freed, without a restart
			// (the index may need one: Badger gives up after a failed write).
			f := man.Files[next]
			resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, man.Abs(f)))
			if resp.StatusCode == http.StatusOK {
				acked[f.SOPUID] = true
			} else {
				t.Logf("after freeing space, before restart: %d %s", resp.StatusCode, body)
			}
			p.kill()
			out, err := exec.Command(gatewayBinary(t), "fsck", "--data", data).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "0 dangling rows") {
				t.Fatalf("fsck after disk full: %v %s", err, out)
			}
			p = startGateway(t, data, guard...)
			for sop := range acked {
				f, _ := man.BySOP(sop)
				want, _ := os.ReadFile(man.Abs(f))
				resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+sop+"&contentType=application/dicom", nil, nil)
				if resp.StatusCode != 200 || !bytes.Equal(got, want) {
					t.Fatalf("acknowledged instance %s lost after disk full: %d", sop, resp.StatusCode)
				}
			}
			f = man.Files[next+1]
			if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, man.Abs(f))); resp.StatusCode != 200 {
				t.Fatalf("after restart with space: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func tail(s string, n int) string {
	for _, mark := range []string{"fatal error:", "unexpected fault", "panic:", "SIGBUS"} {
		if i := strings.Index(s, mark); i >= 0 {
			return s[max(0, i-200):min(len(s), i+n)]
		}
	}
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
