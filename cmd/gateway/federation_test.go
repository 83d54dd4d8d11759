package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/recognition"
)

const fedAdmin = "gw_ops_0123456789abcdefghijklmnop"

// binaryTB is gatewayBinary for tests and benchmarks.
func binaryTB(tb testing.TB) string {
	tb.Helper()
	if t, ok := tb.(*testing.T); ok {
		return gatewayBinary(t)
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gw-bin-*")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// loopbackAddr is a free loopback address.
func loopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fedGateway is one gateway process of a federation test.
type fedGateway struct {
	name, province string
	addr           string // where it listens
	reach          string // where peers reach it (a proxy for the slow one)
	data           string
	keyFile        string
	p              *proc
}

func (g *fedGateway) root() string { return "http://" + g.addr }

// startFed runs "gateway serve" on g.addr with federation flags.
func (g *fedGateway) start(t testing.TB, peersFile string) {
	t.Helper()
	args := []string{"serve", "--listen", g.addr, "--data", g.data, "--admin-token", fedAdmin,
		"--institutions", "../../recognition/defaults/institutions.yaml",
		"--federation-name", g.name, "--federation-province", g.province, "--peers", peersFile,
		"--federation-timeout", "2s", "--rate-limit", "0"}
	if g.keyFile != "" {
		args = append(args, "--federation-key", g.keyFile)
	}
	cmd := exec.Command(binaryTB(t), args...)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.p = &proc{cmd: cmd, base: g.root() + "/dicomweb", log: log}
	t.Cleanup(g.p.kill)
	if err := waitServing(g.addr, log); err != nil {
		t.Fatalf("gateway %s: %v:\n%s", g.name, err, log.String())
	}
}

// call sends a request with a bearer token and checks the status.
func (g *fedGateway) call(t testing.TB, tok, method, path string, body any, want int) (*http.Response, []byte) {
	t.Helper()
	hdr := map[string]string{"Accept": "application/dicom+json, application/json"}
	if tok != "" {
		hdr["Authorization"] = "Bearer " + tok
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	resp, out := gwtest.Do(t, method, g.root()+path, hdr, rd)
	if want != 0 && resp.StatusCode != want {
		t.Fatalf("%s: %s %s: %d %s, want %d", g.name, method, path, resp.StatusCode, out, want)
	}
	return resp, out
}

// token creates an API token at g.
func (g *fedGateway) token(t testing.TB, body map[string]string) string {
	t.Helper()
	var r struct{ Token string }
	_, out := g.call(t, fedAdmin, "POST", "/api/v1/admin/tokens", body, 201)
	json.Unmarshal(out, &r)
	return r.Token
}

// push stores studies at g with a PACS token of institution.
func (g *fedGateway) push(t testing.TB, man *corpus.Manifest, institution string, studies ...corpus.Study) {
	t.Helper()
	tok := g.token(t, map[string]string{"role": "pacs", "institution": institution, "user": "pacs-" + institution})
	for _, st := range studies {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		body, ct := gwtest.Multipart(gwtest.FileParts(t, paths...))
		resp, out := gwtest.Do(t, "POST", g.root()+"/dicomweb/studies", map[string]string{
			"Content-Type": ct, "Accept": "application/dicom+json", "Authorization": "Bearer " + tok}, bytes.NewReader(body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: STOW: %d %s", g.name, resp.StatusCode, out)
		}
	}
}

// consent lets institution see one study at g: link the patient, then
// the patient grants.
func (g *fedGateway) consent(t testing.TB, st corpus.Study, issuer, institution, nationalBody string) {
	t.Helper()
	var link struct {
		PersonKey string `json:"person_key"`
	}
	_, out := g.call(t, fedAdmin, "POST", "/api/v1/persons/links", map[string]string{
		"issuer": issuer, "patient_id": st.PatientID, "national_id": nationalID(nationalBody)}, 200)
	json.Unmarshal(out, &link)
	patient := g.token(t, map[string]string{"role": "patient", "user": "patient", "person_key": link.PersonKey})
	g.call(t, patient, "POST", "/api/v1/patient/consents", map[string]any{
		"grantee_kind": "institution", "grantee_id": institution, "days": 30, "studies": []string{st.StudyUID}}, 201)
}

// slowProxy forwards TCP connections to target, holding each answer back
// by the current delay.
type slowProxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64
}

func startSlowProxy(t testing.TB, addr, target string) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sp := &slowProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go sp.serve(c)
		}
	}()
	return sp
}

func (sp *slowProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", sp.target)
	if err != nil {
		return
	}
	defer up.Close()
	go io.Copy(up, c)
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			time.Sleep(time.Duration(sp.delay.Load()))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// writePeers writes a peers file listing gws with their keys.
func writePeers(t testing.TB, path string, gws []*fedGateway, keys map[string]ed25519.PublicKey) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("peers:\n")
	for _, g := range gws {
		fmt.Fprintf(&b, "  - name: %s\n    province: %q\n    url: http://%s/dicomweb\n    public_key: %s\n",
			g.name, g.province, g.reach, federation.EncodePublicKey(keys[g.name]))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type dicomItem map[string]struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value"`
}

func (it dicomItem) str(tag string) string {
	if e, ok := it[tag]; ok && len(e.Value) > 0 {
		return fmt.Sprint(e.Value[0])
	}
	return ""
}

func byStudy(t testing.TB, body []byte) map[string]dicomItem {
	t.Helper()
	var items []dicomItem
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out := map[string]dicomItem{}
	for _, it := range items {
		out[it.str("0020000D")] = it
	}
	return out
}

// fedSetup starts four gateways of different provinces: a (Beijing, asks),
// b (Shanghai), c (Guangdong) and d (Hubei, reached through a proxy that
// can be made slow); pushes studies to each; and gives consents at b and
// d for a's clinicians. a's key is created by the gateway itself.
type fedSetup struct {
	a, b, c, d *fedGateway
	slow       *slowProxy
	man        *corpus.Manifest
	studies    []corpus.Study
	clinician  string // at a, institution pumch
	keyA       ed25519.PrivateKey
}

func startFederation(t testing.TB) *fedSetup {
	t.Helper()
	man, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: 120, SeriesPerStudy: 2, InstancesPerSeries: 3, Big: 1, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A PACS stores only its own institution's studies: pick, for each
	// gateway's PACS, studies whose InstitutionName the registry gives to
	// that institution.
	reg, err := recognition.ExampleRegistry()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, in := range reg.Institutions {
		for _, n := range append(append([]string{in.Name, in.NameEN}, in.Aliases...), in.Issuers...) {
			names[n] = in.ID
		}
	}
	used := map[string]bool{}
	pick := func(id string) corpus.Study {
		for _, st := range man.Studies() {
			issuer := st.Series[0].Files[0].IssuerOfPatientID
			if (names[st.InstitutionName] == id || names[issuer] == id) && !used[st.StudyUID] {
				used[st.StudyUID] = true
				return st
			}
		}
		t.Fatalf("the corpus has no study of %s", id)
		return corpus.Study{}
	}
	studies := []corpus.Study{pick("pumch"), pick("zsh-fdu"), pick("zsh-fdu"), pick("fah-sysu"), pick("tjh-hust")}
	issuer := func(st corpus.Study) string { return st.Series[0].Files[0].IssuerOfPatientID }
	mk := func(name, province string) *fedGateway {
		g := &fedGateway{name: name, province: province, addr: loopbackAddr(t), data: t.TempDir()}
		g.reach = g.addr
		return g
	}
	s := &fedSetup{a: mk("a", "110000"), b: mk("b", "310000"), c: mk("c", "440000"), d: mk("d", "420000"), man: man, studies: studies}
	s.slow = startSlowProxy(t, "127.0.0.1:0", s.d.addr)
	s.d.reach = s.slow.ln.Addr().String()
	keys := map[string]ed25519.PublicKey{}
	for _, g := range []*fedGateway{s.b, s.c, s.d} {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		pemBytes, _ := federation.EncodePrivateKey(priv)
		g.keyFile = filepath.Join(t.TempDir(), g.name+".key")
		if err := os.WriteFile(g.keyFile, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		keys[g.name] = pub
	}
	dir := t.TempDir()
	s.a.start(t, writePeers(t, filepath.Join(dir, "a.yaml"), []*fedGateway{s.b, s.c, s.d}, keys))
	// a created its key on first start, 0600, under its data dir.
	keyPath := filepath.Join(s.a.data, "secrets", "federation.key")
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("a's key: %v %v", st, err)
	}
	var id struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	_, out := s.a.call(t, fedAdmin, "GET", "/api/v1/federation/identity", nil, 200)
	json.Unmarshal(out, &id)
	pubA, err := federation.ParsePublicKey(id.PublicKey)
	if err != nil || id.Name != "a" {
		t.Fatalf("identity %s: %v", out, err)
	}
	keys["a"] = pubA
	pemA, _ := os.ReadFile(keyPath)
	if s.keyA, err = federation.ParsePrivateKey(pemA); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, g := range []*fedGateway{s.b, s.c, s.d} {
		peers := writePeers(t, filepath.Join(dir, g.name+".yaml"), []*fedGateway{s.a}, keys)
		wg.Add(1)
		go func() { defer wg.Done(); g.start(t, peers) }()
	}
	wg.Wait()

	s.a.push(t, man, "pumch", studies[0])
	s.b.push(t, man, "zsh-fdu", studies[1], studies[2])
	s.c.push(t, man, "fah-sysu", studies[3])
	s.d.push(t, man, "tjh-hust", studies[4])
	s.b.consent(t, studies[1], issuer(studies[1]), "pumch", "31010519491231002")
	s.d.consent(t, studies[4], issuer(studies[4]), "pumch", "42010519491231002")
	s.clinician = s.a.token(t, map[string]string{"role": "clinician", "institution": "pumch", "user": "dr.li"})
	return s
}

// TestFederationProcesses runs four real gateways on loopback and checks
// federated search and retrieve, consent across gateways, recognition
// tags computed for the asking institution, partial results with a
// stopped and a slow peer, and refusal and audit of forged peer requests.
func TestFederationProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four gateway processes")
	}
	s := startFederation(t)
	st := s.studies
	fedQuery := "/dicomweb/studies?federation=all&includefield=00100021"

	// All peers up: own study, b's consented one, d's consented one; b's
	// other study stays invisible (no consent), c answers with nothing.
	resp, out := s.a.call(t, s.clinician, "GET", fedQuery, nil, 200)
	got := byStudy(t, out)
	for _, w := range resp.Header.Values("Warning") {
		if strings.Contains(w, "peer ") {
			t.Errorf("unexpected warning with every peer up: %s", w)
		}
	}
	wantHolder := map[string]string{st[0].StudyUID: "a", st[1].StudyUID: "b", st[4].StudyUID: "d"}
	if len(got) != len(wantHolder) {
		t.Fatalf("federated answer has %d studies, want %d: %s", len(got), len(wantHolder), out)
	}
	for uid, holder := range wantHolder {
		it, ok := got[uid]
		if !ok {
			t.Fatalf("study %s (held by %s) missing from the federated answer", uid, holder)
		}
		if it.str("00130010") != "IMGCLOUD FEDERATION" || it.str("00131001") != holder {
			t.Errorf("study %s: holding gateway %q, want %q", uid, it.str("00131001"), holder)
		}
		if holder != "a" {
			wantURL := s.a.root() + "/dicomweb/peers/" + holder + "/studies/" + uid
			if it.str("00081190") != wantURL || it.str("00131003") != "VERIFIED" {
				t.Errorf("study %s: RetrieveURL %q provenance %q", uid, it.str("00081190"), it.str("00131003"))
			}
		}
	}
	if _, ok := got[st[2].StudyUID]; ok {
		t.Fatal("b's study without consent reached a's clinician")
	}

	// The recognition block of b's study is the one b computes for pumch.
	pumchAtB := s.b.token(t, map[string]string{"role": "clinician", "institution": "pumch", "user": "dr.visiting"})
	_, direct := s.b.call(t, pumchAtB, "GET", "/dicomweb/studies?StudyInstanceUID="+st[1].StudyUID, nil, 200)
	d := byStudy(t, direct)[st[1].StudyUID]
	for _, tag := range []string{"00111001", "00111002", "00111005", "00111006", "00111007"} {
		if d.str(tag) != got[st[1].StudyUID].str(tag) {
			t.Errorf("recognition %s: federated %q, b for pumch %q", tag, got[st[1].StudyUID].str(tag), d.str(tag))
		}
	}
	if got[st[1].StudyUID].str("00111006") != "zsh-fdu" {
		t.Errorf("holding institution %q, want zsh-fdu", got[st[1].StudyUID].str("00111006"))
	}

	// Federated retrieve through a: metadata with URLs rewritten, an
	// instance byte for byte; b's unconsented study is a 404 there too.
	f := st[1].Series[0].Files[0]
	_, meta := s.a.call(t, s.clinician, "GET", "/dicomweb/peers/b/studies/"+f.StudyUID+"/metadata", nil, 200)
	if bytes.Contains(meta, []byte(s.b.addr)) || !bytes.Contains(meta, []byte(s.a.root()+"/dicomweb/peers/b/studies/")) {
		t.Errorf("metadata URLs not rewritten to a's proxy: %.300s", meta)
	}
	want, _ := os.ReadFile(s.man.Abs(f))
	instPath := "/dicomweb/peers/b/studies/" + f.StudyUID + "/series/" + f.SeriesUID + "/instances/" + f.SOPUID
	resp, inst := gwtest.Do(t, "GET", s.a.root()+instPath, map[string]string{
		"Authorization": "Bearer " + s.clinician, "Accept": `multipart/related; type="application/dicom"; transfer-syntax=*`}, nil)
	if resp.StatusCode != 200 || !bytes.Contains(inst, want) || resp.Header.Get("X-Imgcloud-Holding-Gateway") != "b" {
		t.Fatalf("instance through a: %d, %d bytes, contains the file: %v", resp.StatusCode, len(inst), bytes.Contains(inst, want))
	}
	s.a.call(t, s.clinician, "GET", "/dicomweb/peers/b/studies/"+st[2].StudyUID+"/metadata", nil, 404)
	s.a.call(t, s.clinician, "GET", "/dicomweb/peers/nowhere/studies/"+st[2].StudyUID, nil, 404)
	s.a.call(t, s.clinician, "GET", "/dicomweb/peers/b/studies/"+st[2].StudyUID+"/..%2F..%2Fapi", nil, 0)

	// Stop c, slow d down: the answer comes within the deadline with a's
	// and b's studies and a Warning naming each failed peer.
	s.c.p.kill()
	s.slow.delay.Store(int64(5 * time.Second))
	t0 := time.Now()
	resp, out = s.a.call(t, s.clinician, "GET", fedQuery, nil, 200)
	elapsed := time.Since(t0)
	if elapsed > 3500*time.Millisecond {
		t.Fatalf("federated query with a stopped and a slow peer took %s (deadline 2s)", elapsed)
	}
	got = byStudy(t, out)
	if _, ok := got[st[0].StudyUID]; !ok || len(got) != 2 {
		t.Fatalf("partial answer: %d studies %s", len(got), out)
	}
	if _, ok := got[st[1].StudyUID]; !ok {
		t.Fatal("b's study missing from the partial answer")
	}
	warnings := strings.Join(resp.Header.Values("Warning"), "\n")
	if !strings.Contains(warnings, `299 gateway "peer c failed: unreachable`) || !strings.Contains(warnings, `299 gateway "peer d failed: timeout"`) {
		t.Fatalf("warnings:\n%s", warnings)
	}
	t.Logf("partial answer in %s; warnings:\n%s", elapsed.Round(time.Millisecond), warnings)

	// Peer status at a, in the admin API and in /metrics.
	var status struct {
		Peers []federation.PeerStatus `json:"peers"`
	}
	_, out = s.a.call(t, fedAdmin, "GET", "/api/v1/admin/federation/peers", nil, 200)
	json.Unmarshal(out, &status)
	up := map[string]bool{}
	for _, p := range status.Peers {
		up[p.Name] = p.Up
		if p.Name != "b" && (p.LastError == "" || p.Failures == 0) {
			t.Errorf("status of %s: %+v", p.Name, p)
		}
	}
	if !up["b"] || up["c"] || up["d"] {
		t.Fatalf("peer status: %s", out)
	}
	_, metrics := s.a.call(t, fedAdmin, "GET", "/metrics", nil, 200)
	for _, m := range []string{`gateway_federation_peer_up{peer="b"} 1`, `gateway_federation_peer_up{peer="c"} 0`, `gateway_federation_peer_requests_total{outcome="timeout",peer="d"}`} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// Forged requests to b are refused and audited; a genuine one passes
	// once.
	signed := func(key ed25519.PrivateKey, name string, at time.Time, path string) *http.Request {
		r, _ := http.NewRequest("GET", s.b.root()+path, nil)
		r.Header.Set("Accept", "application/dicom+json")
		if _, err := (&federation.Signer{Name: name, Key: key, Now: func() time.Time { return at }}).Sign(r, "b", federation.Asking{Institution: "pumch", User: "dr.li"}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *http.Request) int {
		resp, err := http.DefaultClient.Do(r.Clone(r.Context()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	genuine := signed(s.keyA, "a", time.Now(), "/dicomweb/studies")
	for _, tc := range []struct {
		name string
		req  *http.Request
		want int
	}{
		{"genuine", genuine, 200},
		{"replay", genuine, 401},
		{"bad signature", signed(mallory, "a", time.Now(), "/dicomweb/studies"), 401},
		{"unknown key", signed(mallory, "mallory", time.Now(), "/dicomweb/studies"), 401},
		{"stale date", signed(s.keyA, "a", time.Now().Add(-10*time.Minute), "/dicomweb/studies"), 401},
		{"peer relaying on", signed(s.keyA, "a", time.Now(), "/dicomweb/peers/a/studies/1.2.3"), 403},
		{"peer fanning out", signed(s.keyA, "a", time.Now(), "/dicomweb/studies?federation=all"), 403},
		{"peer on the admin API", signed(s.keyA, "a", time.Now(), "/api/v1/admin/tokens"), 403},
	} {
		if got := send(tc.req); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	time.Sleep(300 * time.Millisecond) // the audit trail writes asynchronously
	_, out = s.b.call(t, fedAdmin, "GET", "/api/v1/admin/audit", nil, 200)
	refused, peerReads := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Actor, Role, Institution, Action string
			Outcome                          int
		}
		json.Unmarshal([]byte(line), &ev)
		if ev.Outcome == 401 && ev.Action == "GET /dicomweb/studies" {
			refused++
		}
		if ev.Role == "peer" && ev.Institution == "pumch" && strings.HasPrefix(ev.Actor, "peer:a/dr.li") && ev.Outcome == 200 {
			peerReads++
		}
	}
	if refused < 4 || peerReads == 0 {
		t.Fatalf("b's audit trail: %d refused peer requests (want 4), %d peer reads for pumch's dr.li:\n%s", refused, peerReads, out)
	}
}

// BenchmarkFederationProcesses measures, between real gateway processes
// on loopback, a clinician's study search at gateway a answered locally
// and federated over its three peers (b, c, d).
//
//	go test -run '^$' -bench FederationProcesses -benchtime 200x ./cmd/gateway
func BenchmarkFederationProcesses(b *testing.B) {
	s := startFederation(b)
	for _, bc := range []struct{ name, path string }{
		{"local", "/dicomweb/studies"},
		{"peers=3", "/dicomweb/studies?federation=all"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				resp, _ := s.a.call(b, s.clinician, "GET", bc.path, nil, 200)
				if w := resp.Header.Get("Warning"); w != "" {
					b.Fatal(w)
				}
			}
		})
	}
}
