package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/records"
)

// adminTokenBox prints an admin token in a box with what to do next: how
// to use it (viewer, curl, the CLI) and how to get a new one when it is
// lost. It is for a terminal: the token never goes to the log.
func adminTokenBox(w io.Writer, title, token, site, data string) {
	lines := []string{
		title,
		"It is shown only now (only its hash is stored); keep it safe:",
		"",
		"    " + token,
		"",
		"Use it:",
		"  viewer  open " + site + "/ and paste it into the token field",
		"  curl    export TOKEN=" + token,
		"          curl -H \"Authorization: Bearer $TOKEN\" " + site + "/dicomweb/studies",
		"  CLI     export GATEWAY_TOKEN=$TOKEN GATEWAY_URL=" + site,
		"          gateway token create --role pacs --institution ID   (a PACS's token)",
		"          gateway token -h                                    (all token commands)",
		"Lost it?  stop the gateway, then: gateway token reset-admin --data " + data,
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l))
	}
	rule := "+" + strings.Repeat("-", width+2) + "+"
	fmt.Fprintf(w, "\n%s\n", rule)
	for _, l := range lines {
		fmt.Fprintf(w, "| %-*s |\n", width, l)
	}
	fmt.Fprintf(w, "%s\n\n", rule)
}

// siteRoot is the root URL a person on this machine reaches the gateway
// at: the public URL, or the listen address (loopback for a wildcard).
func siteRoot(cfg Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimSuffix(strings.TrimRight(cfg.PublicURL, "/"), "/dicomweb")
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "http://" + cfg.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// resetAdmin: gateway token reset-admin, offline (the gateway stopped:
// the index allows one process). It creates a new admin token in the
// data folder, prints it and audits it. Other tokens are left as they
// are, older admin tokens included: a lost token is usually forgotten,
// not stolen, and automation may hold another admin token
// (GATEWAY_ADMIN_TOKEN); --revoke-admins revokes every other admin token
// for when it may have been stolen.
func resetAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("token reset-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	h := tokenCommands.help("reset-admin", " --data DIR [--revoke-admins]")
	h.shown = append(offlineFlags(), "audit-keys", "revoke-admins")
	h.install(fs)
	revokeOthers := false
	fs.BoolVar(&revokeOthers, "revoke-admins", false, "also revoke every other admin token (when the lost one may have been stolen)")
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, "index")); err != nil && !cfg.Index.Postgres() {
		return fmt.Errorf("no gateway index in %s (check --data): %w", cfg.Data, err)
	}
	o, err := openOffline(ctx, cfg, false, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	if cfg.Access.AuditKeyFile == "" {
		cfg.Access.AuditKeyFile = filepath.Join(cfg.Data, "secrets", "audit-keys.json")
	}
	al, err := audit.Open(o.db, o.store, audit.Options{KeyFile: cfg.Access.AuditKeyFile, Logger: newLogger(stderr, cfg.LogJSON, cfg.Debug)})
	if err != nil {
		return err
	}
	tokens := auth.NewTokens(records.New(o.store, o.db), nil)
	clear, tok, err := tokens.Create(ctx, auth.Principal{Role: auth.RoleAdmin, User: "admin (reset-admin)"}, 0)
	if err != nil {
		al.Close(ctx)
		return err
	}
	var kept, revoked []string
	all, err := tokens.List(ctx)
	for _, t := range all {
		if t.Role != auth.RoleAdmin || t.ID == tok.ID || t.Revoked != nil {
			continue
		}
		if !revokeOthers {
			kept = append(kept, t.ID)
			continue
		}
		if err = tokens.Revoke(ctx, t.ID); err != nil {
			break
		}
		revoked = append(revoked, t.ID)
	}
	detail := "new admin token " + tok.ID
	if len(revoked) > 0 {
		detail += "; revoked admin tokens " + strings.Join(revoked, ", ")
	}
	al.Record(audit.Event{Time: time.Now().UTC(), Actor: "gateway token reset-admin", Role: string(auth.RoleAdmin),
		Action: "token reset-admin", Outcome: 201, Source: "local:" + localUser(), Detail: detail})
	if cerr := al.Close(ctx); cerr != nil && err == nil {
		err = fmt.Errorf("audit: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("reset-admin (new token %s created): %w", tok.ID, err)
	}
	adminTokenBox(stdout, "A new admin token "+tok.ID+" was created (gateway token reset-admin).", clear, siteRoot(cfg), cfg.Data)
	switch {
	case len(revoked) > 0:
		fmt.Fprintf(stdout, "Revoked the other admin tokens: %s.\n", strings.Join(revoked, ", "))
	case len(kept) > 0:
		fmt.Fprintf(stdout, "Other admin tokens still work: %s (revoke them with gateway token revoke ID, or run this with --revoke-admins).\n", strings.Join(kept, ", "))
	}
	fmt.Fprintln(stdout, "Start the gateway again to use it.")
	return nil
}

// localUser names who ran an offline command, for the audit trail.
func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}
