package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// registerInstitution registers a minimal institution through the admin
// API: tokens and consents may name only registered institutions.
func registerInstitution(t *testing.T, root, admin, id string) {
	t.Helper()
	resp, b := gwtest.Do(t, "PUT", root+"/api/v1/admin/institutions/"+id,
		map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
		strings.NewReader(`{"id":"`+id+`","name":"测试医院 `+id+`","province":"110000"}`))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("register institution %s: %d %s", id, resp.StatusCode, b)
	}
}

// cliRun runs the gateway binary with env added and returns its combined
// output and exit code.
func cliRun(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), args...)
	cmd.Env = append(noGatewayEnv(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gateway %v: %v", args, err)
	}
	return string(out), code
}

// noGatewayEnv is the environment without GATEWAY_* variables.
func noGatewayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestEverySubcommandHelp runs "-h" and "--help" of every subcommand of
// the binary: each exits 0 with a usage line, a one-line summary and an
// example of itself, and lists only its own flags.
func TestEverySubcommandHelp(t *testing.T) {
	client := []string{"url", "token"}
	offline := offlineFlags()
	scu := []string{"peer", "aet", "aec", "tls", "tls-cert", "tls-key", "tls-ca", "timeout"}
	cases := []struct {
		args  []string
		flags []string // exactly the flags listed; nil: a list of subcommands
	}{
		{[]string{"serve"}, nil}, // all of serve's; checked below by a few names
		{[]string{"push"}, append([]string{"c", "q", "batch-mb"}, client...)},
		{[]string{"demo"}, client},
		{[]string{"reindex"}, append([]string{"fresh"}, offline...)},
		{[]string{"fsck"}, append([]string{"deep", "repair"}, offline...)},
		{[]string{"token"}, nil},
		{[]string{"token", "create"}, append([]string{"role", "institution", "user", "ttl", "person"}, client...)},
		{[]string{"token", "list"}, client},
		{[]string{"token", "revoke"}, client},
		{[]string{"token", "reset-admin"}, append([]string{"revoke-admins", "audit-keys"}, offline...)},
		{[]string{"audit"}, nil},
		{[]string{"audit", "verify"}, client},
		{[]string{"audit", "query"}, append([]string{"person", "study", "institution", "from", "to"}, client...)},
		{[]string{"audit", "export"}, client},
		{[]string{"audit", "rotate-key"}, []string{"data", "audit-keys"}},
		{[]string{"share"}, nil},
		{[]string{"share", "create"}, append([]string{"study", "hours", "download", "pin", "uses"}, client...)},
		{[]string{"share", "revoke"}, client},
		{[]string{"share", "keys"}, client},
		{[]string{"recognition"}, nil},
		{[]string{"recognition", "load"}, append([]string{"institutions", "catalogue"}, client...)},
		{[]string{"recognition", "export"}, client},
		{[]string{"recognition", "stats"}, append([]string{"by", "from", "to", "json"}, client...)},
		{[]string{"dicom"}, nil},
		{[]string{"dicom", "echo"}, scu},
		{[]string{"dicom", "store"}, append([]string{"n", "q"}, scu...)},
		{[]string{"dicom", "find"}, append([]string{"k", "level", "root", "format"}, scu...)},
		{[]string{"dicom", "move"}, append([]string{"k", "level", "root", "dest"}, scu...)},
	}
	flagLine := regexp.MustCompile(`(?m)^  --?([a-z0-9-]+)`)
	for _, c := range cases {
		for _, h := range []string{"-h", "--help"} {
			args := append(slices.Clone(c.args), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, code := cliRun(t, nil, args...)
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				lines := strings.Split(out, "\n")
				if len(lines) < 4 || !strings.HasPrefix(lines[0], "Usage: gateway "+strings.Join(c.args, " ")) || lines[1] != "" || len(lines[2]) < 20 {
					t.Fatalf("no usage line and one-line summary:\n%s", out)
				}
				ex := strings.Index(out, "Example")
				if ex < 0 || !strings.Contains(out[ex:], "gateway "+strings.Join(c.args, " ")) {
					t.Errorf("no example of the command:\n%s", out)
				}
				if strings.Contains(out, "unknown command") {
					t.Errorf("answers unknown command:\n%s", out)
				}
				var listed []string
				if i := strings.Index(out, "\nFlags:\n"); i >= 0 {
					for _, m := range flagLine.FindAllStringSubmatch(out[i:], -1) {
						listed = append(listed, m[1])
					}
				}
				switch {
				case c.args[0] == "serve":
					for _, want := range []string{"listen", "data", "jwt-issuer", "admin-token"} {
						if !slices.Contains(listed, want) {
							t.Errorf("serve -h lacks --%s", want)
						}
					}
				case c.flags == nil:
					if len(listed) != 0 || !strings.Contains(out, "Commands:") {
						t.Errorf("a command group lists its commands, no flags:\n%s", out)
					}
				default:
					slices.Sort(listed)
					want := slices.Sorted(slices.Values(c.flags))
					if !slices.Equal(listed, want) {
						t.Errorf("flags listed %v, want %v (its own only)", listed, want)
					}
				}
			})
		}
	}
	// Usage errors exit 2 and say what was wrong.
	for _, args := range [][]string{{"token"}, {"token", "bogus"}, {"push"}, {"nonsense"}, {"fsck", "--no-such-flag"}} {
		if out, code := cliRun(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, out)
		}
	}
}

// readmeCommands returns the shell lines of README.md's quick start and
// first-token sections, as a newcomer would copy them.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := strings.Index(s, "## Quick start"), strings.Index(s, "## What it serves")
	if start < 0 || end < start {
		t.Fatal("README.md has no quick start section")
	}
	var cmds []string
	inSh := false
	for _, l := range strings.Split(s[start:end], "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
		case strings.HasPrefix(l, "```"):
			inSh = false
		case inSh && strings.TrimSpace(l) != "":
			cmds = append(cmds, strings.TrimSpace(l))
		}
	}
	return cmds
}

// adminTokenIn finds the admin token in the box a first start prints.
func adminTokenIn(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\|\s+(gw_[a-z0-9]+_[a-z0-9]+)\s+\|$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no admin token in a box:\n%s", out)
	}
	return m[1]
}

// TestReadmeQuickStart follows README.md's quick start literally, with
// authentication on and a fresh data folder: the gateway part of "serve
// --demo" (on a free port), the token from the printed box, the curl
// request and the token command; then the CLI conventions a newcomer
// meets next: every client takes the site root (or a URL ending in
// /dicomweb) and GATEWAY_TOKEN, push explains refusals, and typos are 400s
// naming the field.
func TestReadmeQuickStart(t *testing.T) {
	cmds := readmeCommands(t)
	find := func(sub string) string {
		for _, c := range cmds {
			if strings.Contains(c, sub) {
				return c
			}
		}
		t.Fatalf("README quick start has no command with %q: %q", sub, cmds)
		return ""
	}
	serveLine := find("cmd/gateway serve")
	serveArgs := strings.Fields(strings.SplitN(serveLine, "#", 2)[0])[3:] // after "go run ./cmd/gateway"
	if serveArgs[0] != "serve" || slices.Contains(serveArgs, "--no-auth") {
		t.Fatalf("quick start serve line %q", serveLine)
	}
	data := t.TempDir()
	p := startGatewayArgs(t, data, serveArgs[1:]...)
	root := strings.TrimSuffix(p.base, "/dicomweb")
	admin := adminTokenIn(t, p.log.String())
	for _, want := range []string{"gateway token -h", "gateway token reset-admin --data " + data, root + "/dicomweb/studies"} {
		if !strings.Contains(p.log.String(), want) {
			t.Errorf("the first-start box does not say %q:\n%s", want, p.log.String())
		}
	}

	// The curl line, with the token exported as the README says.
	curl := find("curl ")
	u := regexp.MustCompile(`'(http://[^']+)'`).FindStringSubmatch(curl)
	if u == nil || !strings.Contains(curl, `Authorization: Bearer $TOKEN`) {
		t.Fatalf("curl line %q", curl)
	}
	resp, body := gwtest.Do(t, "GET", strings.Replace(u[1], "http://127.0.0.1:8080", root, 1), map[string]string{"Authorization": "Bearer " + admin}, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "00081030") {
		t.Fatalf("README curl: %d %s", resp.StatusCode, body)
	}

	// The token command, GATEWAY_TOKEN=$TOKEN as the README writes it (the
	// gateway is on another port than the README's, hence GATEWAY_URL).
	tc := find("token create")
	fields := strings.Fields(tc)
	i := slices.Index(fields, "token")
	if !strings.HasPrefix(tc, "GATEWAY_TOKEN=$TOKEN ") || i < 0 {
		t.Fatalf("token line %q", tc)
	}
	env := []string{"GATEWAY_TOKEN=" + admin, "GATEWAY_URL=" + root}
	if out, code := cliRun(t, env, fields[i:]...); code != 0 || !strings.Contains(out, "shown once") {
		t.Fatalf("README token create: exit %d\n%s", code, out)
	}

	// Item 11: one rule for clients. A URL with /dicomweb works as the site
	// root does; demo honours GATEWAY_TOKEN.
	if out, code := cliRun(t, []string{"GATEWAY_TOKEN=" + admin, "GATEWAY_URL=" + root + "/dicomweb/"}, "token", "list"); code != 0 || !strings.Contains(out, "dr.li") {
		t.Errorf("token list with a /dicomweb URL: exit %d\n%s", code, out)
	}
	if out, code := cliRun(t, env, "demo"); code != 0 || !strings.Contains(out, "32 stored, 0 failed") {
		t.Errorf("demo with GATEWAY_TOKEN: exit %d\n%s", code, out)
	}
	if out, code := cliRun(t, []string{"GATEWAY_URL=" + root}, "demo"); code != 1 || !strings.Contains(out, "401") {
		t.Errorf("demo without a token: exit %d, want 1 with the 401:\n%s", code, out)
	}

	// Item 12: a PACS of another institution pushing the demo studies is
	// refused per file; push says why once, with the server's comment and
	// an example, counts no success in the bar and exits 1.
	out, code := cliRun(t, env, "token", "create", "--role", "pacs", "--institution", "ayfy", "--user", "pacs")
	if code != 0 {
		t.Fatalf("pacs token: %s", out)
	}
	pacs := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	out, code = cliRun(t, []string{"GATEWAY_TOKEN=" + pacs, "GATEWAY_URL=" + root}, "demo")
	if code != 1 || !strings.Contains(out, "32 failed") || strings.Count(out, "a PACS stores only for its own institution") != 1 ||
		!strings.Contains(out, "e.g. ") || strings.Contains(out, "100%") {
		t.Errorf("an all-refused push: exit %d\n%s", code, out)
	}

	// Item 14: typos are 400s naming the field.
	call := func(path, body string) (int, string) {
		resp, b := gwtest.Do(t, "POST", root+path, map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}, strings.NewReader(body))
		return resp.StatusCode, string(b)
	}
	if code, b := call("/api/v1/admin/tokens", `{"role":"clinician","institution":"pumhc","user":"dr.typo"}`); code != 400 || !strings.Contains(b, "institution") || !strings.Contains(b, "register the institution first") {
		t.Errorf("token for an unregistered institution: %d %s", code, b)
	}
	person := strings.Repeat("ab", 32)
	for _, c := range []struct{ body, field string }{
		{`"grantee_kind":"institution","grantee_id":"pumhc"`, "grantee_id"},
		{`"grantee_kind":"region","grantee_id":"YDR"`, "grantee_id"},
		{`"grantee_kind":"all","items":["CT99"]`, "items"},
		{`"grantee_kind":"all","studies":["1.2.3.999"]`, "studies"},
	} {
		if code, b := call("/api/v1/patient/consents", `{"person_key":"`+person+`",`+c.body+`}`); code != 400 || !strings.Contains(b, c.field+":") {
			t.Errorf("consent {%s}: %d %s, want 400 naming %s", c.body, code, b, c.field)
		}
	}
	for _, body := range []string{`"grantee_kind":"institution","grantee_id":"pumch"`, `"grantee_kind":"region","grantee_id":"YRD","items":["CT01"]`, `"grantee_kind":"region","grantee_id":"110000"`} {
		if code, b := call("/api/v1/patient/consents", `{"person_key":"`+person+`",`+body+`}`); code != 201 {
			t.Errorf("consent {%s}: %d %s, want 201", body, code, b)
		}
	}
}

// TestResetAdmin: "token reset-admin" refuses while the gateway runs (the
// index allows one process), and with it stopped prints a new admin token
// in a box; the old admin token and every other token keep working (a
// lost token is rarely a stolen one; --revoke-admins is for that), and the
// reset is in a verifying audit trail.
func TestResetAdmin(t *testing.T) {
	data := t.TempDir()
	if out, code := cliRun(t, nil, "token", "reset-admin", "--data", filepath.Join(data, "nothing-here")); code != 1 || !strings.Contains(out, "check --data") {
		t.Errorf("reset-admin on a folder without an index: exit %d\n%s", code, out)
	}
	p := startGatewayArgs(t, data)
	first := adminTokenIn(t, p.log.String())
	env := []string{"GATEWAY_TOKEN=" + first, "GATEWAY_URL=" + siteOf(p)}
	if out, code := cliRun(t, env, "token", "create", "--role", "admin", "--user", "ops"); code != 0 {
		t.Fatalf("second admin: %s", out)
	}
	if out, code := cliRun(t, nil, "token", "reset-admin", "--data", data); code != 1 || !strings.Contains(out, "stop it first") {
		t.Errorf("reset-admin while the gateway runs: exit %d\n%s", code, out)
	}
	p.kill()

	out, code := cliRun(t, nil, "token", "reset-admin", "--data", data)
	if code != 0 || !strings.Contains(out, "Other admin tokens still work") {
		t.Fatalf("reset-admin: exit %d\n%s", code, out)
	}
	fresh := adminTokenIn(t, out)
	p = startGatewayArgs(t, data)
	if strings.Contains(p.log.String(), "First start") {
		t.Error("a restart after reset-admin printed a first-start token")
	}
	for name, tok := range map[string]string{"new": fresh, "old": first} {
		resp, b := gwtest.Do(t, "GET", siteOf(p)+"/api/v1/admin/tokens", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s admin token after reset: %d %s", name, resp.StatusCode, b)
		}
	}
	env = []string{"GATEWAY_TOKEN=" + fresh, "GATEWAY_URL=" + siteOf(p)}
	if out, code := cliRun(t, env, "audit", "query"); code != 0 || !strings.Contains(out, `"action":"token reset-admin"`) {
		t.Errorf("the reset is not audited: exit %d\n%s", code, out)
	}
	if out, code := cliRun(t, env, "audit", "verify"); code != 0 || !strings.Contains(out, `"ok":true`) {
		t.Errorf("audit verify after reset-admin: exit %d\n%s", code, out)
	}
	p.kill()

	// --revoke-admins: only the newest admin token works afterwards.
	out, code = cliRun(t, nil, "token", "reset-admin", "--data", data, "--revoke-admins")
	if code != 0 || !strings.Contains(out, "Revoked the other admin tokens") {
		t.Fatalf("reset-admin --revoke-admins: exit %d\n%s", code, out)
	}
	newest := adminTokenIn(t, out)
	p = startGatewayArgs(t, data)
	for tok, want := range map[string]int{newest: 200, fresh: 401, first: 401} {
		if resp, _ := gwtest.Do(t, "GET", siteOf(p)+"/api/v1/admin/tokens", map[string]string{"Authorization": "Bearer " + tok}, nil); resp.StatusCode != want {
			t.Errorf("after --revoke-admins: %d, want %d", resp.StatusCode, want)
		}
	}
}

// siteOf is a gateway process's site root.
func siteOf(p *proc) string { return strings.TrimSuffix(p.base, "/dicomweb") }
