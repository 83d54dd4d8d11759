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
	base  string // e.g. http://127.0.0.1:8080
	token string
	out   io.Writer
}

func newAdminFlags(name string, stderr io.Writer) (*flag.FlagSet, *adminClient) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &adminClient{base: "http://127.0.0.1:8080"}
	str(fs, &c.base, "url", "gateway root URL")
	secretStr(fs, &c.token, "token", "API token")
	return fs, c
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
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, r)
	if err != nil {
		return nil, err
	}
	if c.token == "" {
		return nil, errors.New("an admin token is needed: --token or GATEWAY_TOKEN")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
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

// tokenCmd: gateway token create|list|revoke.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gateway token create --role R [--institution I] [--user U] [--ttl 720h] | list | revoke ID")
	}
	fs, c := newAdminFlags("token "+args[0], stderr)
	role, inst, user, ttl, person := "", "", "", "", ""
	if args[0] == "create" {
		fs.StringVar(&role, "role", "", "pacs, clinician, patient, peer or admin")
		fs.StringVar(&inst, "institution", "", "institution id (pacs and clinician)")
		fs.StringVar(&user, "user", "", "user or system name")
		fs.StringVar(&ttl, "ttl", "", "lifetime, e.g. 720h (empty: no expiry)")
		fs.StringVar(&person, "person", "", "person key (patient tokens)")
	}
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
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
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: gateway token revoke ID")
		}
		_, err := c.call(ctx, "DELETE", "/api/v1/admin/tokens/"+url.PathEscape(fs.Arg(0)), nil)
		if err == nil {
			fmt.Fprintf(stdout, "token %s revoked\n", fs.Arg(0))
		}
		return err
	}
	return fmt.Errorf("unknown token command %q", args[0])
}

// auditCmd: gateway audit verify|export|query.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gateway audit verify | query [--person K] [--study UID] [--from T] [--to T] | export | rotate-key [--data D] [--audit-keys F]")
	}
	if args[0] == "rotate-key" {
		return auditRotateKey(args[1:], stdout, stderr)
	}
	fs, c := newAdminFlags("audit "+args[0], stderr)
	q := url.Values{}
	var person, study, inst, from, to string
	fs.StringVar(&person, "person", "", "person key")
	fs.StringVar(&study, "study", "", "study UID")
	fs.StringVar(&inst, "institution", "", "institution of the actor")
	fs.StringVar(&from, "from", "", "RFC 3339 start")
	fs.StringVar(&to, "to", "", "RFC 3339 end")
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	for k, v := range map[string]string{"person": person, "study": study, "institution": inst, "from": from, "to": to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch args[0] {
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
	case "export":
		b, err := c.call(ctx, "POST", "/api/v1/admin/audit/export", nil)
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return err
	}
	return fmt.Errorf("unknown audit command %q", args[0])
}

// auditRotateKey: gateway audit rotate-key, on the key file itself (the
// running gateway uses the new key from its next start).
func auditRotateKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit rotate-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data, file := "data", ""
	str(fs, &data, "data", "data directory")
	str(fs, &file, "audit-keys", "audit MAC keys file (default {data}/secrets/audit-keys.json)")
	if err := fs.Parse(args); err != nil {
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
