package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgcloud/gateway/audit"
)

// adminClient talks to a running gateway's admin API with an admin token
// (flags --url and --token, or GATEWAY_URL and GATEWAY_TOKEN): Badger
// allows one process per index, so management goes through the server.
type adminClient struct {
	site *site
}

// newAdminFlags returns the flags of a client command named name ("token
// create") with --url and --token, printing h for -h.
func newAdminFlags(name string, stderr io.Writer, h help) (*flag.FlagSet, *adminClient) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	h.install(fs)
	return fs, &adminClient{site: bindSite(fs)}
}

func (c *adminClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.site.root()+path, r)
	if err != nil {
		return nil, err
	}
	if c.site.token == "" {
		return nil, errors.New("an admin token is needed: GATEWAY_TOKEN (or --token); it was printed at the gateway's first start (lost: gateway token reset-admin)")
	}
	req.Header.Set("Authorization", "Bearer "+c.site.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// tokenCommands are gateway token's subcommands.
var tokenCommands = group{name: "token", summary: "create, list or revoke API tokens through a running gateway; reset the admin token offline", subs: []subcommand{
	{"create", "create a token for a PACS, a clinician, a patient, a peer gateway or an admin (shown once)",
		"GATEWAY_TOKEN=$ADMIN gateway token create --role clinician --institution bj-pumch --user dr.li --ttl 720h"},
	{"list", "list the tokens (ids, roles, institutions, state; never secrets)", "GATEWAY_TOKEN=$ADMIN gateway token list"},
	{"revoke", "revoke a token by id: it stops working at once", "GATEWAY_TOKEN=$ADMIN gateway token revoke 3k2jd"},
	{"reset-admin", "with the gateway stopped, create a new admin token in the data folder (when the admin token is lost)",
		"gateway token reset-admin --data /var/lib/gateway"},
}}

// tokenCmd: gateway token create|list|revoke|reset-admin.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, err := tokenCommands.dispatch(args, stdout, stderr)
	if err != nil {
		return err
	}
	if name == "reset-admin" {
		return resetAdmin(ctx, args[1:], stdout, stderr)
	}
	use := map[string]string{"create": " --role R [--institution I] [--user U] [--ttl 720h] [--person K]", "list": " [flags]", "revoke": " [flags] ID"}[name]
	fs, c := newAdminFlags("token "+name, stderr, tokenCommands.help(name, use))
	role, inst, user, ttl, person := "", "", "", "", ""
	if name == "create" {
		fs.StringVar(&role, "role", "", "pacs, clinician, patient, peer or admin")
		fs.StringVar(&inst, "institution", "", "registered institution id (pacs and clinician tokens)")
		fs.StringVar(&user, "user", "", "user or system name")
		fs.StringVar(&ttl, "ttl", "", "lifetime, e.g. 720h (empty: no expiry)")
		fs.StringVar(&person, "person", "", "person key (patient tokens)")
	}
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	switch name {
	case "create":
		b, err := c.call(ctx, "POST", "/api/v1/admin/tokens", map[string]string{"role": role, "institution": inst, "user": user, "ttl": ttl, "person_key": person})
		if err != nil {
			return err
		}
		var r struct{ Token, ID string }
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s created; shown once:\n%s\n", r.ID, r.Token)
		return nil
	case "list":
		b, err := c.call(ctx, "GET", "/api/v1/admin/tokens", nil)
		if err != nil {
			return err
		}
		var toks []struct {
			ID, Role, Institution, User string
			Created                     time.Time
			Expires, Revoked            *time.Time
		}
		if err := json.Unmarshal(b, &toks); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-8s %-10s %-16s %-16s %-20s %s\n", "ID", "ROLE", "INSTITUTION", "USER", "CREATED", "STATE")
		for _, t := range toks {
			state := "active"
			if t.Revoked != nil {
				state = "revoked " + t.Revoked.Format(time.DateOnly)
			} else if t.Expires != nil {
				state = "expires " + t.Expires.Format(time.DateTime)
			}
			fmt.Fprintf(stdout, "%-8s %-10s %-16s %-16s %-20s %s\n", t.ID, t.Role, t.Institution, t.User, t.Created.Format(time.DateTime), state)
		}
		return nil
	default: // revoke
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: gateway token revoke ID", errUsage)
		}
		_, err := c.call(ctx, "DELETE", "/api/v1/admin/tokens/"+url.PathEscape(fs.Arg(0)), nil)
		if err == nil {
			fmt.Fprintf(stdout, "token %s revoked\n", fs.Arg(0))
		}
		return err
	}
}

// auditCommands are gateway audit's subcommands.
var auditCommands = group{name: "audit", summary: "verify, query or export the audit trail through a running gateway; rotate its MAC key", subs: []subcommand{
	{"verify", "check the audit trail's MAC chain and checkpoints", "GATEWAY_TOKEN=$ADMIN gateway audit verify"},
	{"query", "print audit events as JSON lines, filtered", "GATEWAY_TOKEN=$ADMIN gateway audit query --study 1.2.840.1 --from 2026-11-01T00:00:00Z"},
	{"export", "write the events since the last export to object storage now", "GATEWAY_TOKEN=$ADMIN gateway audit export"},
	{"rotate-key", "make a new audit MAC key current (in the key file; used from the next start)", "gateway audit rotate-key --data /var/lib/gateway"},
}}

// auditCmd: gateway audit verify|export|query|rotate-key.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, err := auditCommands.dispatch(args, stdout, stderr)
	if err != nil {
		return err
	}
	if name == "rotate-key" {
		return auditRotateKey(args[1:], stdout, stderr)
	}
	fs, c := newAdminFlags("audit "+name, stderr, auditCommands.help(name, " [flags]"))
	q := url.Values{}
	var person, study, inst, from, to string
	if name == "query" {
		fs.StringVar(&person, "person", "", "person key")
		fs.StringVar(&study, "study", "", "study UID")
		fs.StringVar(&inst, "institution", "", "institution of the actor")
		fs.StringVar(&from, "from", "", "RFC 3339 start")
		fs.StringVar(&to, "to", "", "RFC 3339 end")
	}
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	for k, v := range map[string]string{"person": person, "study": study, "institution": inst, "from": from, "to": to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch name {
	case "verify":
		b, err := c.call(ctx, "GET", "/api/v1/admin/audit/verify", nil)
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return err
	case "query":
		b, err := c.call(ctx, "GET", "/api/v1/admin/audit?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	default: // export
		b, err := c.call(ctx, "POST", "/api/v1/admin/audit/export", nil)
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return err
	}
}

// auditRotateKey: gateway audit rotate-key, on the key file itself (the
// running gateway uses the new key from its next start).
func auditRotateKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit rotate-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	auditCommands.help("rotate-key", " [--data DIR] [--audit-keys FILE]").install(fs)
	data, file := "data", ""
	str(fs, &data, "data", "data directory")
	str(fs, &file, "audit-keys", "audit MAC keys file (default {data}/secrets/audit-keys.json)")
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if file == "" {
		file = filepath.Join(data, "secrets", "audit-keys.json")
	}
	id, err := audit.RotateKeyFile(file, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit key %s is current in %s; a running gateway uses it from its next start\n", id, file)
	return nil
}
