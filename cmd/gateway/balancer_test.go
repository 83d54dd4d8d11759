package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
)

// addrOf is the host:port a gateway process listens on.
func addrOf(p *proc) string {
	return strings.TrimSuffix(strings.TrimPrefix(p.base, "http://"), "/dicomweb")
}

// balancerConfig is deploy/haproxy.cfg with the compose service
// addresses (name:port) replaced by addrs and the frontends bound to
// binds (":8080" -> a loopback address): the rest, checks, timeouts and
// failover, is the file's own.
func balancerConfig(t *testing.T, addrs, binds map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for from, to := range addrs {
		if !strings.Contains(s, " "+from+"\n") && !strings.Contains(s, " "+from+" ") {
			t.Fatalf("deploy/haproxy.cfg has no server at %s", from)
		}
		s = regexp.MustCompile(` `+regexp.QuoteMeta(from)+`\b`).ReplaceAllString(s, " "+to)
	}
	for from, to := range binds {
		if !strings.Contains(s, "bind "+from+"\n") {
			t.Fatalf("deploy/haproxy.cfg has no bind %s", from)
		}
		s = strings.ReplaceAll(s, "bind "+from+"\n", "bind "+to+"\n")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplicasBehindHAProxy runs deploy/haproxy.cfg (a copy with loopback
// addresses) in front of three gateway processes on one PostgreSQL and
// one folder store: STOW, QIDO, metadata and WADO through the balancer
// reach every replica and answer what each replica answers directly.
// Then one replica is killed with SIGKILL: every request through the
// balancer still succeeds (passive failover sends it to another replica
// at once), HAProxy's /readyz checks mark the replica down within its
// period, and what was stored after the kill is found through each
// survivor.
func TestReplicasBehindHAProxy(t *testing.T) {
	bin := haproxyBinary(t)
	pg := pgtest.Start(t)
	url := pg.Database(t)
	data := t.TempDir()

	// One after the other: the first creates the shared key files under
	// --data/secrets, the others read them.
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	// Associations reach the replicas from HAProxy's address, loopback here.
	if err := os.WriteFile(aes, []byte("- {aet: MODALITY, host: 127.0.0.1, port: 4243, institution: fahzu, allow: [store]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var reps []*proc
	addrs := map[string]string{}
	for i := 1; i <= 3; i++ {
		dicom := freeAddr(t)
		p := startServe(t, pgEnv(url), "--data", data, "--no-auth", "--dicom-listen", dicom, "--dicom-aes", aes)
		reps = append(reps, p)
		addrs[fmt.Sprintf("gateway-%d:8080", i)] = addrOf(p)
		addrs[fmt.Sprintf("gateway-%d:11112", i)] = dicom
	}
	front, dicomFront := freeAddr(t), freeAddr(t)
	cfg := balancerConfig(t, addrs, map[string]string{":8080": front, ":11112": dicomFront})
	lbLog := &lockedBuffer{}
	cmd := exec.Command(bin, "-f", cfg, "-db")
	cmd.Stdout, cmd.Stderr = lbLog, lbLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lb := &proc{cmd: cmd, base: "http://" + front + "/dicomweb", log: lbLog}
	t.Cleanup(lb.kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("HAProxy log:\n%s", tail(lbLog.String(), 6000))
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + front + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy does not answer /readyz at %s:\n%s", front, lbLog.String())
		}
	}

	man := smallCorpus(t, 3)
	stowAll(t, lb, man)
	want := answers(t, lb, man)
	for i, p := range reps {
		got := answers(t, p, man)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("replica %d answers %s otherwise than the balancer:\nbalancer %.300s\nreplica  %.300s", i+1, k, v, got[k])
			}
		}
	}
	wadoAll(t, lb, man)
	// leastconn spreads the requests: each replica served some of them.
	for i := 1; i <= 3; i++ {
		if n := strings.Count(lbLog.String(), fmt.Sprintf(" gateways/gateway-%d ", i)); n == 0 {
			t.Errorf("no request through the balancer reached gateway-%d", i)
		}
	}

	// kill -9 one replica, then requests through the balancer at once.
	killed := time.Now()
	reps[1].kill()
	fresh, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: 2, SeriesPerStudy: 1, InstancesPerSeries: 3, Seed: 21, Today: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := man.Files[0]
	gets := []string{
		"/studies?includefield=all", "/studies/" + f.StudyUID + "/metadata", "/instances",
		"/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + "&contentType=application/dicom",
	}
	for round := 0; round < 3; round++ {
		for _, path := range gets {
			start := time.Now()
			resp, body := gwtest.Do(t, "GET", lb.base+path, map[string]string{"Accept": "*/*"}, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s through the balancer after the kill: %d %.200s", path, resp.StatusCode, body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("GET %s through the balancer after the kill took %v", path, d)
			}
		}
	}
	stowAll(t, lb, fresh)
	answered := time.Since(killed)
	if answered > 30*time.Second {
		t.Errorf("the requests after the kill took %v", answered)
	}
	// The active check (GET /readyz every 2 s, 2 failures) marks it down,
	// if the passive failover had not already.
	for deadline := killed.Add(10 * time.Second); !strings.Contains(lbLog.String(), "Server gateways/gateway-2 is DOWN"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("HAProxy did not mark gateway-2 down within 10 s of its kill")
		}
	}
	down := regexp.MustCompile(`.*Server gateways/gateway-2 is DOWN.*`).FindString(lbLog.String())
	t.Logf("%d requests after the kill answered in %v, all 200; HAProxy: %s", 3*len(gets)+len(fresh.Studies()), answered.Round(time.Millisecond), down)
	for _, i := range []int{0, 2} {
		for _, st := range fresh.Studies() {
			resp, body := gwtest.Do(t, "GET", reps[i].base+"/studies/"+st.StudyUID+"/instances", map[string]string{"Accept": "application/dicom+json"}, nil)
			if n := strings.Count(string(body), `"00080018"`); resp.StatusCode != http.StatusOK || n != len(st.Files()) {
				t.Errorf("gateway-%d lists %d of the %d instances stored through the balancer after the kill: %d", i+1, n, len(st.Files()), resp.StatusCode)
			}
		}
	}
	wadoAll(t, lb, fresh)
	// The DICOM frontend passes associations through to the live
	// replicas (C-ECHO, a few times so that leastconn tries them all).
	host, port, _ := net.SplitHostPort(dicomFront)
	for range 4 {
		if out, err := dcmtk(t, "echoscu", "-aet", "MODALITY", "-aec", "IMGCLOUD", host, port); err != nil {
			t.Errorf("echoscu through the balancer's DICOM port after the kill: %v\n%s", err, out)
		}
	}
}
