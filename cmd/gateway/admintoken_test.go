package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestAdminTokenSettingNeverResurrects restarts a real gateway on the same
// data with --admin-token each time: the token is installed on the first
// start only; once revoked it stays revoked across restarts; and a
// setting whose id names another (clinician) token neither overwrites it
// nor works. Every start says in its log what it did, without the secret.
func TestAdminTokenSettingNeverResurrects(t *testing.T) {
	data := t.TempDir()
	const secret = "0123456789abcdefghijklmnop"
	ops := "gw_ops_" + secret
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	status := func(p *proc, tok string) int {
		t.Helper()
		resp, _ := gwtest.Do(t, "GET", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/tokens", bearer(tok), nil)
		return resp.StatusCode
	}
	create := func(p *proc, by, body string) (id, clear string) {
		t.Helper()
		resp, b := gwtest.Do(t, "POST", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/tokens",
			map[string]string{"Authorization": "Bearer " + by, "Content-Type": "application/json"}, strings.NewReader(body))
		var out struct{ ID, Token string }
		if resp.StatusCode != 201 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("create token %s: %d %s", body, resp.StatusCode, b)
		}
		return out.ID, out.Token
	}
	logHas := func(p *proc, want string) {
		t.Helper()
		log := p.log.String()
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
		if strings.Contains(log, secret) {
			t.Errorf("the admin token's secret reached the log")
		}
	}

	p := startGatewayArgs(t, data, "--admin-token", ops)
	logHas(p, "admin token installed")
	if got := status(p, ops); got != 200 {
		t.Fatalf("installed admin token: %d", got)
	}
	_, second := create(p, ops, `{"role":"admin","user":"second"}`)
	registerInstitution(t, strings.TrimSuffix(p.base, "/dicomweb"), ops, "h1")
	clinID, clin := create(p, ops, `{"role":"clinician","institution":"h1","user":"dr.li"}`)
	p.kill()

	p = startGatewayArgs(t, data, "--admin-token", ops)
	logHas(p, "already installed")
	if resp, b := gwtest.Do(t, "DELETE", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/tokens/ops", bearer(second), nil); resp.StatusCode != 204 {
		t.Fatalf("revoke ops: %d %s", resp.StatusCode, b)
	}
	p.kill()

	// The revoked admin token is not brought back by the setting.
	p = startGatewayArgs(t, data, "--admin-token", ops)
	logHas(p, "names a revoked token, which stays revoked")
	if got := status(p, ops); got != 401 {
		t.Errorf("revoked admin token after a restart: %d, want 401", got)
	}
	p.kill()

	// An admin setting with a clinician token's id does not take it over.
	p = startGatewayArgs(t, data, "--admin-token", "gw_"+clinID+"_"+secret)
	logHas(p, "names an existing clinician token, left unchanged")
	if got := status(p, "gw_"+clinID+"_"+secret); got != 401 {
		t.Errorf("admin setting over a clinician's id: %d, want 401", got)
	}
	if got := status(p, clin); got != 403 {
		t.Errorf("the clinician token after the setting: %d, want 403 (still a clinician)", got)
	}
	if got := status(p, second); got != 200 {
		t.Errorf("the other admin token: %d", got)
	}
}
