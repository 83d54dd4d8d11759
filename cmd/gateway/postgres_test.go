package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
)

// pgEnv is this process's environment with the index on PostgreSQL
// given as GATEWAY_INDEX (a URL with its password stays off the command
// line).
func pgEnv(url string) []string { return append(os.Environ(), "GATEWAY_INDEX="+url) }

// stowAll stores every study of man through p.
func stowAll(t *testing.T, p *proc, man *corpus.Manifest) {
	t.Helper()
	for _, st := range man.Studies() {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != http.StatusOK {
			t.Fatalf("STOW: %d %s\ngateway log:\n%s", resp.StatusCode, body, tail(p.log.String(), 4000))
		}
	}
}

// answers are p's QIDO answers at every level and the metadata of every
// study and series of man, canonical, with p's own address replaced.
func answers(t *testing.T, p *proc, man *corpus.Manifest) map[string]string {
	t.Helper()
	paths := []string{"/studies?includefield=all", "/series?includefield=all", "/instances?includefield=all",
		"/studies?ModalitiesInStudy=CT", "/studies?limit=2&offset=1"}
	for _, st := range man.Studies() {
		paths = append(paths, "/studies/"+st.StudyUID+"/metadata", "/studies?StudyInstanceUID="+st.StudyUID)
		for _, se := range st.Series {
			paths = append(paths, "/studies/"+st.StudyUID+"/series/"+se.SeriesUID+"/metadata")
		}
	}
	out := map[string]string{}
	for _, path := range paths {
		resp, body := gwtest.Do(t, "GET", p.base+path, map[string]string{"Accept": "application/dicom+json"}, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		out[path] = canonical(t, strings.ReplaceAll(string(body), p.base, "BASE"))
	}
	return out
}

// wadoAll checks that every instance of man is retrieved through p byte
// for byte.
func wadoAll(t *testing.T, p *proc, man *corpus.Manifest) {
	t.Helper()
	for _, f := range man.Files {
		want, err := os.ReadFile(man.Abs(f))
		if err != nil {
			t.Fatal(err)
		}
		resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+f.SOPUID+"&contentType=application/dicom", nil, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("WADO %s: %d, %d bytes (want %d)", f.SOPUID, resp.StatusCode, len(got), len(want))
		}
	}
}

// TestPostgresIndex runs the gateway with its index on PostgreSQL and the
// folder store: what it answers is what the Badger index answers for the
// same studies; it survives a kill -9 and a restart; the password of the
// index URL appears nowhere in its output; nothing is written under
// --data/index. Then two gateways on one database and one folder: an
// instance stored through one is found through the other at once, and
// the same instance sent to both is indexed once.
func TestPostgresIndex(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.Database(t)
	man := smallCorpus(t, 3)

	ref := startGateway(t, t.TempDir())
	stowAll(t, ref, man)
	want := answers(t, ref, man)
	ref.kill()

	data := t.TempDir()
	p := startServe(t, pgEnv(url), "--data", data, "--no-auth")
	stowAll(t, p, man)
	check := func(what string, p *proc) {
		t.Helper()
		got := answers(t, p, man)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s differs from the Badger index's answer:\nbadger   %.300s\npostgres %.300s", what, k, v, got[k])
			}
		}
		wadoAll(t, p, man)
	}
	check("first run", p)
	p.kill() // SIGKILL: every acknowledged row is committed on the server
	p = startServe(t, pgEnv(url), "--data", data, "--no-auth")
	check("after kill -9 and restart", p)
	if _, err := os.Stat(filepath.Join(data, "index")); !os.IsNotExist(err) {
		t.Errorf("a Badger folder was made under --data with a postgres index: %v", err)
	}
	if strings.Contains(p.log.String(), pg.Password) {
		t.Errorf("the gateway's log shows the index password:\n%s", p.log.String())
	}
	if !strings.Contains(p.log.String(), "index on PostgreSQL") {
		t.Errorf("the log does not say where the index is:\n%s", p.log.String())
	}

	// A second replica on the same database and folder.
	q := startServe(t, pgEnv(url), "--data", data, "--no-auth")
	more := smallCorpus(t, 4) // the same seed: the first three studies again, and one more
	last := more.Studies()[3]
	if resp, body := gwtest.Do(t, "GET", q.base+"/studies?StudyInstanceUID="+last.StudyUID, map[string]string{"Accept": "application/dicom+json"}, nil); strings.Contains(string(body), last.StudyUID) {
		t.Fatalf("the study meant to be new is there already: %d", resp.StatusCode)
	}
	var paths []string
	for _, f := range last.Files() {
		paths = append(paths, more.Abs(f))
	}
	if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW through the first replica: %d %s", resp.StatusCode, body)
	}
	resp, body := gwtest.Do(t, "GET", q.base+"/studies?StudyInstanceUID="+last.StudyUID, map[string]string{"Accept": "application/dicom+json"}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), last.StudyUID) {
		t.Fatalf("the second replica does not find the study stored through the first at once: %d %s", resp.StatusCode, body)
	}
	// The same new instances to both replicas at once: stored once, both
	// answered 200 (one stored them, the other found them there).
	fresh, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: 1, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 12, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	dup := fresh.Studies()[0]
	paths = nil
	for _, f := range dup.Files() {
		paths = append(paths, fresh.Abs(f))
	}
	codes := make(chan string, 2)
	for _, r := range []*proc{p, q} {
		go func() {
			resp, body := gwtest.Stow(t, r.base+"/studies", gwtest.FileParts(t, paths...))
			codes <- fmt.Sprintf("%d %s", resp.StatusCode, body)
		}()
	}
	for range 2 {
		if c := <-codes; !strings.HasPrefix(c, "200 ") {
			t.Errorf("the same new instances to two replicas at once: %.300s, want 200", c)
		}
	}
	resp, body = gwtest.Do(t, "GET", q.base+"/studies/"+dup.StudyUID+"/instances", map[string]string{"Accept": "application/dicom+json"}, nil)
	if n := strings.Count(string(body), `"00080018"`); resp.StatusCode != http.StatusOK || n != len(dup.Files()) {
		t.Errorf("instances of the study sent twice: %d, %d listed, want %d", resp.StatusCode, n, len(dup.Files()))
	}
}

// TestReindexIntoPostgres is the way from Badger to PostgreSQL: reindex
// of a Badger gateway's objects into an empty database gives the same
// answers; --fresh is refused on PostgreSQL (replicas may be using it).
func TestReindexIntoPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.Database(t)
	man := smallCorpus(t, 3)
	data := t.TempDir()
	p := startGateway(t, data)
	stowAll(t, p, man)
	want := answers(t, p, man)
	p.kill()

	cmd := exec.Command(gatewayBinary(t), "reindex", "--data", data)
	cmd.Env = pgEnv(url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reindex into PostgreSQL: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d objects, %d indexed", len(man.Files), len(man.Files))) || strings.Contains(string(out), pg.Password) {
		t.Fatalf("reindex output: %s", out)
	}
	cmd = exec.Command(gatewayBinary(t), "reindex", "--data", data, "--fresh")
	cmd.Env = pgEnv(url)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--fresh with the index on PostgreSQL") {
		t.Fatalf("reindex --fresh on PostgreSQL: %v\n%s", err, out)
	}
	p = startServe(t, pgEnv(url), "--data", data, "--no-auth")
	got := answers(t, p, man)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs after reindex into PostgreSQL:\nbadger   %.300s\npostgres %.300s", k, v, got[k])
		}
	}
	wadoAll(t, p, man)
}

// TestPostgresRestartUnderLoad: while PostgreSQL is down, STOW, QIDO,
// metadata, WADO and /readyz answer 503 with a sentence saying so (never
// 500, never a false 200); once it is back the same gateway serves again
// without a restart, and every instance acknowledged before, during or
// after is there.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := pgtest.Start(t)
	man := smallCorpus(t, 4)
	p := startServe(t, pgEnv(pg.Database(t)), "--data", t.TempDir(), "--no-auth")
	root := strings.TrimSuffix(p.base, "/dicomweb")

	var mu sync.Mutex
	acked := map[string]bool{}
	var refused []string
	send := func(f corpus.File) int {
		resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, man.Abs(f)))
		mu.Lock()
		defer mu.Unlock()
		switch resp.StatusCode {
		case http.StatusOK:
			acked[f.SOPUID] = true
		case http.StatusServiceUnavailable:
			if !strings.Contains(string(body), "unavailable, retry later") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without its sentence or Retry-After: %s", body)
			}
			refused = append(refused, f.SOPUID)
		default:
			t.Errorf("STOW while PostgreSQL restarts: %d %s", resp.StatusCode, body)
		}
		return resp.StatusCode
	}
	half := len(man.Files) / 2
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(man.Files); i += 2 {
				send(man.Files[i])
			}
		})
	}
	// Stop the server under the load, once some instances are in.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	f := man.Files[0]
	for _, path := range []string{
		"/dicomweb/studies", "/dicomweb/studies/" + f.StudyUID + "/metadata",
		"/dicomweb/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + "&contentType=application/dicom",
		"/dicomweb/studies/" + f.StudyUID + "/series/" + f.SeriesUID + "/instances/" + f.SOPUID, "/readyz",
	} {
		resp, body := gwtest.Do(t, "GET", root+path, map[string]string{"Accept": "*/*"}, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "unavailable") {
			t.Errorf("GET %s with PostgreSQL down: %d %.200s, want 503 saying it is unavailable", path, resp.StatusCode, body)
		}
	}
	if code := send(man.Files[half]); code != http.StatusServiceUnavailable && !acked[man.Files[half].SOPUID] {
		t.Errorf("STOW with PostgreSQL down: %d", code)
	}
	time.Sleep(500 * time.Millisecond)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// What was refused is stored when sent again.
	mu.Lock()
	again := refused
	refused = nil
	mu.Unlock()
	for _, sop := range again {
		fl, _ := man.BySOP(sop)
		var code int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if code = send(fl); code == http.StatusOK {
				break
			}
		}
		if code != http.StatusOK {
			t.Fatalf("STOW of %s after PostgreSQL came back: %d", sop, code)
		}
	}
	if len(acked) != len(man.Files) {
		t.Fatalf("%d of %d instances acknowledged", len(acked), len(man.Files))
	}
	if resp, body := gwtest.Do(t, "GET", root+"/readyz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after PostgreSQL came back: %d %s", resp.StatusCode, body)
	}
	wadoAll(t, p, man)
	if len(again) == 0 {
		t.Log("no STOW met the outage: the load finished before the stop")
	}
}
