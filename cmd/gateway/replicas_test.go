package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/httpapi/shareapi"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
	"github.com/imgcloud/gateway/share"
)

// root is p's address without the DICOMweb path.
func (p *proc) root() string { return strings.TrimSuffix(p.base, "/dicomweb") }

// shareLink creates a share link of study through p (under --no-auth)
// and returns the link's path (/s/...).
func shareLink(t *testing.T, p *proc, study string, uses int) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"study": study, "hours": 1, "uses": uses})
	resp, out := gwtest.Do(t, "POST", p.root()+"/api/v1/shares", map[string]string{"Content-Type": "application/json"}, bytes.NewReader(b))
	var sh struct{ URL string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(out, &sh) != nil {
		t.Fatalf("create share through %s: %d %s", p.root(), resp.StatusCode, out)
	}
	u, err := url.Parse(sh.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// openLink opens the share link at path through p and reports whether it
// gave a session.
func openLink(t *testing.T, p *proc, path, pin string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", p.root()+path+"/open", strings.NewReader(url.Values{"pin": {pin}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return len(resp.Cookies()) > 0
}

// within polls ok until it holds or d passes (then fails the test with
// what).
func within(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// startAtOnce starts n gateways at once ("serve" with args(i) in env) and
// waits until every one serves.
func startAtOnce(t *testing.T, n int, env []string, args func(i int) []string) []*proc {
	t.Helper()
	procs := make([]*proc, n)
	errs := make(chan error, n)
	for i := range n {
		addr := freeAddr(t)
		cmd := exec.Command(gatewayBinary(t), append([]string{"serve", "--listen", addr}, args(i)...)...)
		cmd.Env = env
		log := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = &proc{cmd: cmd, base: "http://" + addr + "/dicomweb", log: log}
		t.Cleanup(procs[i].kill)
		go func() {
			if err := waitServing(addr, log); err != nil {
				errs <- fmt.Errorf("replica %d: %v\n%s", i, err, log.String())
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("%d replicas started at once: %v", n, err)
		}
	}
	return procs
}

// TestReplicaFirstAdminToken: three gateways with authentication started
// at once on one empty PostgreSQL database make exactly one admin token:
// one replica shows it, the other two say which replica did; the token
// works through all three, and a replica started later shows none.
func TestReplicaFirstAdminToken(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL, data := pg.Database(t), t.TempDir()
	args := func(int) []string { return []string{"--data", data} }
	procs := startAtOnce(t, 3, pgEnv(dbURL), args)
	tokenRe := regexp.MustCompile(`gw_[a-z0-9]+_[a-z0-9]+`)
	var token string
	shown, told := 0, 0
	for i, p := range procs {
		out := p.log.String()
		switch {
		case strings.Contains(out, "First start: an admin token was created."):
			shown++
			token = tokenRe.FindString(out)
		case strings.Contains(out, "was created by another replica"):
			told++
			if tokenRe.MatchString(out) {
				t.Errorf("replica %d shows a token though another made it:\n%s", i, out)
			}
		default:
			t.Errorf("replica %d says nothing of the admin token:\n%s", i, out)
		}
	}
	if shown != 1 || told != 2 || token == "" {
		t.Fatalf("%d replicas showed an admin token, %d told of another's; want 1 and 2", shown, told)
	}
	id := strings.Split(token, "_")[1]
	for i, p := range procs {
		out := p.log.String()
		if !strings.Contains(out, "admin token "+id+" was created by another replica") && !strings.Contains(out, token) {
			t.Errorf("replica %d names another token than %s:\n%s", i, id, out)
		}
		resp, body := gwtest.Do(t, "GET", p.root()+"/api/v1/admin/tokens", map[string]string{"Authorization": "Bearer " + token}, nil)
		var list []struct{ ID string }
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("list tokens through replica %d: %d %s", i, resp.StatusCode, body)
		}
		if len(list) != 1 || list[0].ID != id {
			t.Errorf("tokens seen through replica %d: %+v, want only %s", i, list, id)
		}
	}
	late := startServe(t, pgEnv(dbURL), args(0)...)
	if out := late.log.String(); tokenRe.MatchString(out) {
		t.Errorf("a replica started later shows a token:\n%s", out)
	}
}

// TestReplicaSecrets: two gateways on one PostgreSQL database, each with
// its own key files, hold one set of keys: the first made them, the
// second took them; a share link made through one opens through the
// other; a share key rotated through one signs links the other opens
// within a second, and an audit key rotated in one replica's file reaches
// the other's; a third replica given other keys refuses to start and
// says why.
func TestReplicaSecrets(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.Database(t)
	man := smallCorpus(t, 1)
	data := t.TempDir() // one folder store for the objects
	keys := func(dir string) []string {
		return []string{"--share-keys", filepath.Join(dir, "share-keys.json"), "--audit-keys", filepath.Join(dir, "audit-keys.json")}
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startServe(t, pgEnv(dbURL), append([]string{"--data", data, "--no-auth"}, keys(dirA)...)...)
	b := startServe(t, pgEnv(dbURL), append([]string{"--data", data, "--no-auth"}, keys(dirB)...)...)
	same := func(name string) bool {
		x, errA := os.ReadFile(filepath.Join(dirA, name))
		y, errB := os.ReadFile(filepath.Join(dirB, name))
		return errA == nil && errB == nil && bytes.Equal(x, y)
	}
	for _, name := range []string{"share-keys.json", "audit-keys.json"} {
		if !same(name) {
			t.Fatalf("the replicas' %s differ", name)
		}
	}
	stowAll(t, a, man)
	study := man.Studies()[0].StudyUID
	if !openLink(t, b, shareLink(t, a, study, 0), "") {
		t.Fatal("a share link made through one replica does not open through the other")
	}

	resp, out := gwtest.Do(t, "POST", a.root()+"/api/v1/admin/share-keys", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate the share key: %d %s", resp.StatusCode, out)
	}
	took := within(t, 1500*time.Millisecond, "a link signed by the rotated key opens through the other replica", func() bool {
		return openLink(t, b, shareLink(t, a, study, 0), "")
	})
	t.Logf("share key rotation seen by the other replica after %v", took)

	cmd := exec.Command(gatewayBinary(t), "audit", "rotate-key", "--audit-keys", filepath.Join(dirA, "audit-keys.json"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("audit rotate-key: %v\n%s", err, out)
	}
	within(t, 1500*time.Millisecond, "the audit key rotated in one replica's file reaches the other's", func() bool {
		return same("audit-keys.json")
	})

	// A replica given keys of its own.
	dirC := t.TempDir()
	if _, err := share.LoadKeyring(filepath.Join(dirC, "share-keys.json"), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, gatewayBinary(t), append([]string{"serve", "--listen", freeAddr(t), "--data", data, "--no-auth"}, keys(dirC)...)...)
	c.Env = pgEnv(dbURL)
	out, err := c.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "share-keys: "+filepath.Join(dirC, "share-keys.json")+" differs from the keys the other replicas share") {
		t.Fatalf("a replica with other share keys: %v\n%s", err, out)
	}

	// Two replicas starting at once on an empty database and one folder
	// (the person key's file is theirs together) agree on one set too.
	dbURL2, data2 := pg.Database(t), t.TempDir()
	dirs := []string{t.TempDir(), t.TempDir()}
	startAtOnce(t, 2, pgEnv(dbURL2), func(i int) []string { return append([]string{"--data", data2, "--no-auth"}, keys(dirs[i])...) })
	for _, name := range []string{"share-keys.json", "audit-keys.json"} {
		x, errA := os.ReadFile(filepath.Join(dirs[0], name))
		y, errB := os.ReadFile(filepath.Join(dirs[1], name))
		if errA != nil || errB != nil || !bytes.Equal(x, y) {
			t.Errorf("two replicas started at once hold different %s (%v, %v)", name, errA, errB)
		}
	}
}

// TestReplicaRevocation: three gateways on one PostgreSQL database. An
// API token revoked through one, a share link revoked through another,
// an institution registered through one: every replica refuses the token
// and the link, and knows the institution, within a second.
func TestReplicaRevocation(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.Database(t)
	admin := "gw_ops_0123456789abcdefghijklmnop"
	data := t.TempDir()
	var ps []*proc
	for range 3 {
		ps = append(ps, startServe(t, pgEnv(dbURL), "--data", data, "--admin-token", admin, "--demo", "--rate-limit", "0", "--fail-rate-limit", "0"))
	}
	do := func(p *proc, tok, method, path string, body any) (int, []byte) {
		t.Helper()
		hdr := map[string]string{"Authorization": "Bearer " + tok, "Accept": "application/json"}
		var r *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			hdr["Content-Type"] = "application/json"
			r = bytes.NewReader(b)
		}
		var resp *http.Response
		var out []byte
		if r != nil {
			resp, out = gwtest.Do(t, method, p.root()+path, hdr, r)
		} else {
			resp, out = gwtest.Do(t, method, p.root()+path, hdr, nil)
		}
		return resp.StatusCode, out
	}
	// A token made through the first replica works through all three.
	code, out := do(ps[0], admin, "POST", "/api/v1/admin/tokens", map[string]string{"role": "admin", "user": "second"})
	var tok struct{ Token, ID string }
	if code != http.StatusCreated || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("create token: %d %s", code, out)
	}
	for i, p := range ps {
		if code, out := do(p, tok.Token, "GET", "/api/v1/me", nil); code != http.StatusOK {
			t.Fatalf("the new token through replica %d: %d %s", i, code, out)
		}
	}
	// A share link made through the first opens through the others.
	code, out = do(ps[0], admin, "GET", "/dicomweb/studies?limit=1", nil)
	var rows []map[string]struct{ Value []any }
	if code != http.StatusOK || json.Unmarshal(out, &rows) != nil || len(rows) == 0 {
		t.Fatalf("demo studies: %d %s", code, out)
	}
	study, _ := rows[0]["0020000D"].Value[0].(string)
	code, out = do(ps[0], admin, "POST", "/api/v1/shares", map[string]any{"study": study, "hours": 1})
	var sh struct{ ID, URL string }
	if code != http.StatusCreated || json.Unmarshal(out, &sh) != nil {
		t.Fatalf("create share: %d %s", code, out)
	}
	u, _ := url.Parse(sh.URL)
	if !openLink(t, ps[1], u.Path, "") {
		t.Fatal("the share link does not open through another replica")
	}
	// An institution the others do not know yet.
	code, out = do(ps[0], admin, "GET", "/api/v1/institutions", nil)
	var reg struct{ Institutions []map[string]any }
	if code != http.StatusOK || json.Unmarshal(out, &reg) != nil || len(reg.Institutions) == 0 {
		t.Fatalf("institutions: %d %.300s", code, out)
	}
	in := map[string]any{"id": "replica-test", "name": "复制测试医院", "province": reg.Institutions[0]["province"]}

	// Revoke the token through the first, the link through the third,
	// register the institution through the second.
	if code, out := do(ps[0], admin, "DELETE", "/api/v1/admin/tokens/"+tok.ID, nil); code/100 != 2 {
		t.Fatalf("revoke token: %d %s", code, out)
	}
	if code, out := do(ps[2], admin, "DELETE", "/api/v1/shares/"+sh.ID, nil); code/100 != 2 {
		t.Fatalf("revoke share: %d %s", code, out)
	}
	if code, out := do(ps[1], admin, "PUT", "/api/v1/admin/institutions/replica-test", in); code/100 != 2 {
		t.Fatalf("register institution: %d %s", code, out)
	}
	for i, p := range ps {
		within(t, time.Second, fmt.Sprintf("replica %d refuses the revoked token", i), func() bool {
			code, _ := do(p, tok.Token, "GET", "/api/v1/me", nil)
			return code == http.StatusUnauthorized
		})
		within(t, time.Second, fmt.Sprintf("replica %d refuses the revoked share link", i), func() bool {
			return !openLink(t, p, u.Path, "")
		})
		within(t, time.Second, fmt.Sprintf("replica %d knows the new institution", i), func() bool {
			code, _ := do(p, admin, "GET", "/api/v1/institutions/replica-test", nil)
			return code == http.StatusOK
		})
	}
}

// leaseHolder is the process id named by the holder of lease name in the
// database at dbURL (0 when nobody holds it), read with Debian's psql.
func leaseHolder(t *testing.T, dbURL, name string) int {
	t.Helper()
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "psql"), dbURL, "-Atc",
		"SELECT holder FROM leases WHERE name = '"+name+"' AND until_ts > CURRENT_TIMESTAMP").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	parts := strings.Split(strings.TrimSpace(string(out)), "/") // host/pid/random
	if len(parts) != 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// TestReplicaBackgroundWork: two gateways on one database write audit
// checkpoints every second; one holds the work and keeps it, the other
// never writes one; killed with SIGKILL, its work moves to the survivor
// within the lease (5 s), which then writes the checkpoints.
func TestReplicaBackgroundWork(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.Database(t)
	data := t.TempDir()
	args := []string{"--data", data, "--no-auth", "--audit-anchor-every", "1s"}
	ps := []*proc{startServe(t, pgEnv(dbURL), args...), startServe(t, pgEnv(dbURL), args...)}
	traffic := func(p *proc) { // requests that are audited, so there is a head to checkpoint
		gwtest.Do(t, "GET", p.base+"/studies", map[string]string{"Accept": "application/dicom+json"}, nil)
	}
	var holder int
	within(t, 5*time.Second, "one replica takes the checkpoints", func() bool {
		traffic(ps[0])
		holder = leaseHolder(t, dbURL, "audit-anchor")
		return holder != 0
	})
	var owner, other *proc
	for _, p := range ps {
		if p.cmd.Process.Pid == holder {
			owner = p
		} else {
			other = p
		}
	}
	if owner == nil {
		t.Fatalf("the lease names process %d, neither replica (%d, %d)", holder, ps[0].cmd.Process.Pid, ps[1].cmd.Process.Pid)
	}
	for range 3 { // it keeps the work while it lives
		time.Sleep(time.Second)
		traffic(other)
		if h := leaseHolder(t, dbURL, "audit-anchor"); h != holder {
			t.Fatalf("the checkpoint lease moved from a live replica (%d) to %d", holder, h)
		}
	}
	anchors := func() int {
		ents, _ := os.ReadDir(filepath.Join(data, "objects", "audit-anchors"))
		return len(ents)
	}
	owner.kill()
	killed := time.Now()
	before := anchors()
	took := within(t, 8*time.Second, "the survivor takes the checkpoints over", func() bool {
		traffic(other)
		return leaseHolder(t, dbURL, "audit-anchor") == other.cmd.Process.Pid && anchors() > before
	})
	t.Logf("checkpoints taken over %v after the kill (%v after the first poll)", time.Since(killed), took)
}

// TestReplicaLimits: three gateways on one database. A token's requests
// spread over the three are limited as one gateway limits them (each
// allows a third of --rate-limit and --rate-burst); a share link with a
// use limit of 2 opened six times at once over the three opens twice;
// wrong PINs sent to different replicas lock the link after the same
// count as on one gateway (3).
func TestReplicaLimits(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.Database(t)
	admin := "gw_ops_0123456789abcdefghijklmnop"
	data := t.TempDir()
	const rate, burst = 20, 60
	var ps []*proc
	for range 3 {
		ps = append(ps, startServe(t, pgEnv(dbURL), "--data", data, "--admin-token", admin, "--demo",
			"--rate-limit", strconv.Itoa(rate), "--rate-burst", strconv.Itoa(burst), "--fail-rate-limit", "0"))
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "three replicas counted", func() bool {
		out, _ := exec.Command(filepath.Join(bin, "psql"), dbURL, "-Atc", "SELECT count(*) FROM leases WHERE name LIKE 'replica/%' AND until_ts > CURRENT_TIMESTAMP").Output()
		return strings.TrimSpace(string(out)) == "3"
	})
	time.Sleep(replicaBeat + 500*time.Millisecond) // every replica's next beat reads the count
	do := func(p *proc, tok, method, path string, body any) (int, []byte) {
		t.Helper()
		hdr := map[string]string{"Authorization": "Bearer " + tok, "Accept": "application/json"}
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			hdr["Content-Type"] = "application/json"
			rd = bytes.NewReader(b)
		}
		var resp *http.Response
		var out []byte
		if rd != nil {
			resp, out = gwtest.Do(t, method, p.root()+path, hdr, rd)
		} else {
			resp, out = gwtest.Do(t, method, p.root()+path, hdr, nil)
		}
		return resp.StatusCode, out
	}
	code, out := do(ps[0], admin, "POST", "/api/v1/admin/tokens", map[string]string{"role": "admin", "user": "limited"})
	var tok struct{ Token string }
	if code != http.StatusCreated || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("create token: %d %s", code, out)
	}
	start := time.Now()
	ok, limited := 0, 0
	for i := range 2 * burst {
		switch code, out := do(ps[i%3], tok.Token, "GET", "/api/v1/me", nil); code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("GET /api/v1/me: %d %s", code, out)
		}
	}
	// What one gateway would allow: the burst and what refilled meanwhile
	// (a bucket per replica rounds down, so never more).
	most := burst + int(rate*time.Since(start).Seconds()) + 1
	if ok > most || limited == 0 {
		t.Errorf("%d requests over three replicas: %d allowed, %d limited; one gateway allows at most %d", 2*burst, ok, limited, most)
	}
	t.Logf("%d allowed of %d (one gateway: at most %d)", ok, 2*burst, most)

	code, out = do(ps[0], admin, "GET", "/dicomweb/studies?limit=1", nil)
	var rows []map[string]struct{ Value []any }
	if code != http.StatusOK || json.Unmarshal(out, &rows) != nil || len(rows) == 0 {
		t.Fatalf("demo studies: %d %s", code, out)
	}
	study, _ := rows[0]["0020000D"].Value[0].(string)
	share := func(body map[string]any) string {
		body["study"], body["hours"] = study, 1
		code, out := do(ps[0], admin, "POST", "/api/v1/shares", body)
		var sh struct{ URL string }
		if code != http.StatusCreated || json.Unmarshal(out, &sh) != nil {
			t.Fatalf("create share: %d %s", code, out)
		}
		u, _ := url.Parse(sh.URL)
		return u.Path
	}
	twice := share(map[string]any{"uses": 2})
	opened := make(chan bool, 6)
	for i := range 6 {
		go func() { opened <- openLink(t, ps[i%3], twice, "") }()
	}
	n := 0
	for range 6 {
		if <-opened {
			n++
		}
	}
	if n != 2 {
		t.Errorf("a link of 2 uses opened 6 times at once over 3 replicas: %d opened, want 2", n)
	}

	pinned := share(map[string]any{"pin": "482913"})
	for i, p := range ps[:2] {
		if openLink(t, p, pinned, "000000") {
			t.Fatalf("a wrong PIN opened the link through replica %d", i)
		}
	}
	if !openLink(t, ps[2], pinned, "482913") {
		t.Fatal("two wrong PINs locked the link (one gateway locks at 3)")
	}
	for _, p := range ps {
		openLink(t, p, pinned, "000000")
	}
	for i, p := range ps {
		if openLink(t, p, pinned, "482913") {
			t.Errorf("three wrong PINs over three replicas did not lock the link: the right PIN opens it through replica %d", i)
		}
	}

	// Invalid links spread over the replicas: the address's failures are
	// counted once, the wrong PINs above among them, and it is refused
	// after the burst of one gateway (a count per replica would allow it
	// three times as many).
	tries := 0
	for ; tries < 3*shareapi.DefaultFailureBurst; tries++ {
		resp, _ := gwtest.Do(t, "GET", ps[tries%3].root()+"/s/not-a-link-"+strconv.Itoa(tries), nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if tries >= shareapi.DefaultFailureBurst {
		t.Errorf("an address refused after %d invalid links over three replicas (and the wrong PINs); one gateway refuses it within %d failures", tries, shareapi.DefaultFailureBurst)
	}
	for i, p := range ps {
		if resp, out := gwtest.Do(t, "GET", p.root()+"/s/not-a-link", nil, nil); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("replica %d answers an address that used up its failures on the others: %d %s", i, resp.StatusCode, out)
		}
	}
	t.Logf("address refused after %d invalid links (and the wrong PINs before)", tries)
}

// TestReplicasOnMinIO: three gateways, each with its own --data, on one
// PostgreSQL and one MinIO. Studies stored through one are answered the
// same and retrieved byte for byte through the others; one replica
// killed with SIGKILL in the middle of a STOW series loses nothing it
// acknowledged (every such instance is found through the survivors); the
// audit chain all three wrote verifies after it.
func TestReplicasOnMinIO(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.Database(t)
	s3 := miniotest.Start(t)
	env := pgEnv(dbURL)
	var ps []*proc
	for range 3 {
		ps = append(ps, startServe(t, env, "--data", t.TempDir(), "--no-auth", "--store", "s3",
			"--s3-endpoint", s3.Endpoint, "--s3-bucket", "replicas", "--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey))
	}
	man := smallCorpus(t, 2)
	stowAll(t, ps[0], man)
	want := answers(t, ps[0], man)
	for i, p := range ps[1:] {
		got := answers(t, p, man)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("replica %d: %s differs from the storing replica's answer:\n%.300s\n%.300s", i+1, k, v, got[k])
			}
		}
		wadoAll(t, p, man)
	}

	// A STOW series through replica 1, killed after its first answers.
	series, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: 6, SeriesPerStudy: 1, InstancesPerSeries: 3, Seed: 21, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	var acked []corpus.Study
	for i, st := range series.Studies() {
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, series.Abs(f))
		}
		if i == 2 {
			// The kill lands while this request is under way.
			go func() { time.Sleep(20 * time.Millisecond); ps[1].kill() }()
		}
		body, ct := gwtest.Multipart(gwtest.FileParts(t, paths...))
		req, err := http.NewRequest("POST", ps[1].base+"/studies", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			break // killed
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			break
		}
		acked = append(acked, st)
	}
	if len(acked) < 2 {
		t.Fatalf("only %d studies acknowledged before the kill", len(acked))
	}
	for _, p := range []*proc{ps[0], ps[2]} {
		for _, st := range acked {
			for _, f := range st.Files() {
				want, _ := os.ReadFile(series.Abs(f))
				resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+f.SOPUID+"&contentType=application/dicom", nil, nil)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
					t.Errorf("acknowledged %s through a survivor: %d, %d bytes", f.SOPUID, resp.StatusCode, len(got))
				}
			}
		}
	}
	cmd := exec.Command(gatewayBinary(t), "audit", "verify")
	cmd.Env = append(os.Environ(), "GATEWAY_TOKEN=x", "GATEWAY_URL="+ps[2].root())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("audit verify after the three replicas and the kill: %v\n%s", err, out)
	}
	t.Logf("%d studies acknowledged before the kill; %s", len(acked), strings.TrimSpace(string(out)))
}
