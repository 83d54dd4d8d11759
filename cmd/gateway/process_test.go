package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// These tests run the real gateway binary as a separate process, so that
// kill -9 and restarts are real.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func gatewayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gw-bin-*")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		// The process has the codecs of the test binary's build.
		args := []string{"build", "-o", binPath}
		if codecs.Cgo {
			args = append(args, "-tags", "cgocodecs")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type proc struct {
	cmd  *exec.Cmd
	base string // DICOMweb root
	log  *lockedBuffer
}

// lockedBuffer is a process's output, written by exec's copying goroutine
// and read by the test while the process runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errPortTaken says a gateway could not bind the port it was given:
// another process took it between freeAddr and the start.
var errPortTaken = errors.New("port taken")

// waitServing waits until the gateway whose output is log serves addr:
// /readyz answers 200 AND the process itself said it listens there (else
// another test's server on a reused port could be the one answering).
func waitServing(addr string, log *lockedBuffer) error {
	line := "serving DICOMweb at http://" + addr + "/dicomweb"
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out := log.String()
		if strings.Contains(out, "address already in use") {
			return errPortTaken
		}
		if !strings.Contains(out, line) {
			continue
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return errors.New("gateway did not become ready")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startGateway runs "gateway serve" on data and waits until /readyz answers.
func startGateway(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	return startGatewayArgs(t, data, append([]string{"--no-auth"}, extra...)...)
}

// startGatewayArgs runs "gateway serve" with authentication as configured
// by the extra arguments.
func startGatewayArgs(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	return startServe(t, nil, append([]string{"--data", data}, extra...)...)
}

// startServe runs "gateway serve" on a free port with args, in env (nil:
// this process's), and waits until it serves; a port another process took
// in between is tried again with another.
func startServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addr := freeAddr(t)
		cmd := exec.Command(gatewayBinary(t), append([]string{"serve", "--listen", addr}, args...)...)
		cmd.Env = env
		log := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, base: "http://" + addr + "/dicomweb", log: log}
		t.Cleanup(func() { p.kill() })
		err := waitServing(addr, log)
		if err == nil {
			return p
		}
		p.kill()
		if !errors.Is(err, errPortTaken) || attempt == 2 {
			t.Fatalf("%v:\n%s", err, log.String())
		}
	}
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func smallCorpus(t *testing.T, studies int) *corpus.Manifest {
	t.Helper()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: studies, SeriesPerStudy: 2, InstancesPerSeries: 3, Big: 1, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return man
}

// TestKill9LosesNothingAcknowledged stores studies from concurrent clients,
// kills the server with SIGKILL at once after the last acknowledgement,
// restarts it and checks that every acknowledged instance is listed and
// retrievable byte for byte, and that nothing listed lacks its object.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	man := smallCorpus(t, 8)
	data := t.TempDir()
	for round := 0; round < 2; round++ {
		p := startGateway(t, data)
		var mu sync.Mutex
		acked := map[string]bool{}
		var wg sync.WaitGroup
		for i, st := range man.Studies() {
			if i%2 != round {
				continue
			}
			wg.Add(1)
			go func(st corpus.Study) {
				defer wg.Done()
				var paths []string
				for _, f := range st.Files() {
					paths = append(paths, man.Abs(f))
				}
				resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...))
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					for _, f := range st.Files() {
						acked[f.SOPUID] = true
					}
					mu.Unlock()
				} else {
					t.Errorf("STOW: %d %s", resp.StatusCode, body)
				}
			}(st)
		}
		wg.Wait()
		p.kill() // SIGKILL right after the last acknowledgement

		p = startGateway(t, data)
		for sop := range acked {
			f, _ := man.BySOP(sop)
			want, err := os.ReadFile(man.Abs(f))
			if err != nil {
				t.Fatal(err)
			}
			resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+sop+"&contentType=application/dicom", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Fatalf("round %d: acknowledged instance %s lost after kill -9: %d", round, sop, resp.StatusCode)
			}
		}
		// Every listed instance has its object.
		resp, body := gwtest.Do(t, "GET", p.base+"/instances", map[string]string{"Accept": "application/dicom+json"}, nil)
		var items []map[string]struct{ Value []any }
		if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil {
			t.Fatalf("list instances: %d", resp.StatusCode)
		}
		for _, it := range items {
			u := fmt.Sprint(it["00081190"].Value[0])
			if r, _ := gwtest.Do(t, "GET", u, map[string]string{"Accept": "*/*"}, nil); r.StatusCode != 200 {
				t.Fatalf("listed instance %s is not retrievable: %d", u, r.StatusCode)
			}
		}
		p.kill()
	}
}

// TestReindexRebuildsSameAnswers deletes the index folder and rebuilds it
// from object storage alone: QIDO and metadata answers must be the same.
func TestReindexRebuildsSameAnswers(t *testing.T) {
	man := smallCorpus(t, 5)
	data := t.TempDir()
	p := startGateway(t, data)
	for _, st := range man.Studies() {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
	}
	snapshot := func(p *proc) map[string]string {
		out := map[string]string{}
		paths := []string{"/studies?includefield=all", "/series?includefield=all", "/instances?includefield=all"}
		for _, st := range man.Studies() {
			paths = append(paths, "/studies/"+st.StudyUID+"/metadata")
			for _, se := range st.Series {
				paths = append(paths, "/studies/"+st.StudyUID+"/series/"+se.SeriesUID+"/metadata")
			}
		}
		for _, path := range paths {
			resp, body := gwtest.Do(t, "GET", p.base+path, map[string]string{"Accept": "application/dicom+json"}, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			out[path] = canonical(t, strings.ReplaceAll(string(body), p.base, "BASE"))
		}
		// Domain records live in object storage too: the eligibility
		// outcome recorded at ingest must survive the index's deletion.
		root := strings.TrimSuffix(p.base, "/dicomweb")
		for _, st := range man.Studies() {
			resp, body := gwtest.Do(t, "GET", root+"/api/v1/recognition/studies/"+st.StudyUID, nil, nil)
			var v struct {
				Eligibility json.RawMessage `json:"eligibility"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(body, &v) != nil || len(v.Eligibility) == 0 {
				t.Fatalf("eligibility record of %s: %d %s", st.StudyUID, resp.StatusCode, body)
			}
			out["eligibility "+st.StudyUID] = string(v.Eligibility)
		}
		return out
	}
	before := snapshot(p)
	p.kill()
	out, err := exec.Command(gatewayBinary(t), "reindex", "--data", data, "--fresh").CombinedOutput()
	if err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d objects, %d indexed", len(man.Files), len(man.Files))) {
		t.Fatalf("reindex output: %s", out)
	}
	p = startGateway(t, data)
	after := snapshot(p)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs after reindex:\nbefore %.300s\nafter  %.300s", k, v, after[k])
		}
	}
}

// canonical sorts a JSON array of objects so that order does not matter.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		var v any
		json.Unmarshal(it, &v)
		b, _ := json.Marshal(v)
		out[i] = string(b)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestTokenAndAuditCLI starts a gateway with an admin token from the
// environment, creates a clinician token with the CLI, uses it, and checks
// the audit trail with the CLI.
func TestTokenAndAuditCLI(t *testing.T) {
	data := t.TempDir()
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, data, "--admin-token", admin)
	root := strings.TrimSuffix(p.base, "/dicomweb")
	cli := func(args ...string) string {
		cmd := exec.Command(gatewayBinary(t), args...)
		cmd.Env = append(os.Environ(), "GATEWAY_TOKEN="+admin, "GATEWAY_URL="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gateway %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	reg := filepath.Join(t.TempDir(), "institutions.yaml")
	if err := os.WriteFile(reg, []byte("institutions:\n  - {id: h1, name: 测试医院, province: \"110000\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli("recognition", "load", "--institutions", reg) // tokens name registered institutions only
	out := cli("token", "create", "--role", "clinician", "--institution", "h1", "--user", "dr.li", "--ttl", "1h")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	if !strings.HasPrefix(tok, "gw_") {
		t.Fatalf("token create printed %q", out)
	}
	if !strings.Contains(cli("token", "list"), "dr.li") {
		t.Fatal("token list lacks the new token")
	}
	resp, _ := gwtest.Do(t, "GET", p.base+"/studies", map[string]string{"Authorization": "Bearer " + tok}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("clinician token: %d", resp.StatusCode)
	}
	resp, _ = gwtest.Do(t, "GET", p.base+"/studies", nil, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if out := cli("audit", "verify"); !strings.Contains(out, `"ok":true`) {
		t.Fatalf("audit verify: %s", out)
	}
	if out := cli("audit", "query"); strings.Count(out, "\n") < 2 || strings.Contains(out, strings.Split(tok, "_")[2]) {
		t.Fatalf("audit query: %s", out)
	}
	if strings.Contains(p.log.String(), strings.Split(tok, "_")[2]) || strings.Contains(p.log.String(), "0123456789abcdefghijklmnop") {
		t.Fatal("a token secret reached the server log")
	}
}

// TestPushAndDemo runs "serve --demo" (demo studies on an empty store) and
// "push" of a generated folder to it, as a newcomer would.
func TestPushAndDemo(t *testing.T) {
	p := startGateway(t, t.TempDir(), "--demo")
	count := func() int {
		resp, body := gwtest.Do(t, "GET", p.base+"/instances", map[string]string{"Accept": "application/dicom+json"}, nil)
		var items []json.RawMessage
		if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil {
			t.Fatalf("count instances: %d", resp.StatusCode)
		}
		return len(items)
	}
	demo := count()
	if demo == 0 {
		t.Fatal("serve --demo loaded no studies")
	}
	man := smallCorpus(t, 3)
	os.WriteFile(filepath.Join(man.Dir, "README.txt"), []byte("not DICOM"), 0o644)
	out, err := exec.Command(gatewayBinary(t), "push", "--url", p.base, "-c", "2", man.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d", len(man.Files))) {
		t.Errorf("push summary does not count %d files: %s", len(man.Files), out)
	}
	if got := count(); got != demo+len(man.Files) {
		t.Fatalf("after push: %d instances, want %d", got, demo+len(man.Files))
	}
}

// TestFsck breaks the store behind the index's back (an object deleted, an
// object added, an object altered) and checks fsck finds and repairs it.
func TestFsck(t *testing.T) {
	man := smallCorpus(t, 2)
	data := t.TempDir()
	p := startGateway(t, data)
	var paths []string
	for _, f := range man.Files {
		paths = append(paths, man.Abs(f))
	}
	if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	p.kill()
	run := func(args ...string) (string, error) {
		out, err := exec.Command(gatewayBinary(t), append([]string{"fsck", "--data", data}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("--deep"); err != nil || !strings.Contains(out, "0 dangling rows, 0 orphan objects, 0 corrupt objects") {
		t.Fatalf("clean store: %v %s", err, out)
	}
	obj := func(f corpus.File) string {
		return filepath.Join(data, "objects", "studies", f.StudyUID, "series", f.SeriesUID, "instances", f.SOPUID+".dcm")
	}
	if err := os.Remove(obj(man.Files[0])); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(obj(man.Files[1]))
	b[len(b)-1] ^= 0xFF
	os.WriteFile(obj(man.Files[1]), b, 0o640)
	// An object that no row knows of: another study, written by hand.
	other, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 99,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	ef := other.Files[0]
	eb, _ := os.ReadFile(other.Abs(ef))
	os.MkdirAll(filepath.Dir(obj(ef)), 0o750)
	os.WriteFile(obj(ef), eb, 0o640)
	out, err := run("--deep")
	if err == nil || !strings.Contains(out, "1 dangling rows, 1 orphan objects, 1 corrupt objects") {
		t.Fatalf("broken store: %v %s", err, out)
	}
	out, _ = run("--repair")
	if !strings.Contains(out, "2 repaired") {
		t.Fatalf("repair: %s", out)
	}
	out, err = run()
	if err != nil || !strings.Contains(out, "0 dangling rows, 0 orphan objects") {
		t.Fatalf("after repair: %v %s", err, out)
	}
}
