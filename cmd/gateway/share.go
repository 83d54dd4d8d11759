package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/httpapi/shareapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/share"
)

// ShareConfig configures share links.
type ShareConfig struct {
	// MaxLifetime bounds a link's life (links default to 72 hours).
	MaxLifetime time.Duration
	// Session is how long an opened link's viewer session lasts.
	Session time.Duration
	// KeyFile holds the signing keys (default {data}/secrets/share-keys.json,
	// created on first start, mode 0600).
	KeyFile string
	// SecureCookie forces Secure session cookies (behind a TLS proxy).
	SecureCookie bool
}

func defaultShare() ShareConfig {
	return ShareConfig{MaxLifetime: 30 * 24 * time.Hour, Session: 30 * time.Minute}
}

func bindShare(fs *flag.FlagSet, c *ShareConfig) {
	duration(fs, &c.MaxLifetime, "share-max-lifetime", "longest life of a share link")
	duration(fs, &c.Session, "share-session", "life of the viewer session an opened share link gives")
	str(fs, &c.KeyFile, "share-keys", "share link signing keys file (default {data}/secrets/share-keys.json, created on first start)")
	boolean(fs, &c.SecureCookie, "share-secure-cookie", "mark share session cookies Secure even without TLS here (behind a TLS proxy)")
}

// setupShares opens the share keys and service and returns the API to
// mount (its Session authenticates share-link sessions).
func setupShares(cfg Config, svc *archive.Service, db index.Store, rs *recognition.Service, acc *accessParts, secrets *secrets, log *slog.Logger) (*shareapi.API, error) {
	sc := cfg.Access.Share
	if sc.KeyFile == "" {
		sc.KeyFile = filepath.Join(cfg.Data, "secrets", "share-keys.json")
	}
	keys, err := share.LoadKeyring(sc.KeyFile, nil)
	if err != nil {
		return nil, err
	}
	secrets.onChange("share-keys", keys.Reload)
	shares := share.New(acc.rec, keys, share.Options{MaxLifetime: sc.MaxLifetime, SessionLifetime: sc.Session})
	var fails shareapi.Failures // one gateway: counted in memory
	if _, shared := db.(index.Leaser); shared {
		// Replicas count each address's failures once, in the index.
		fails = share.NewAddressFailures(db, shareapi.DefaultFailuresPerMinute, shareapi.DefaultFailureBurst, nil)
	}
	api := shareapi.New(shareapi.Options{Failures: fails,
		Shares: shares, Archive: svc, Owners: studyOwners{db: db, rs: rs},
		PublicURL: strings.TrimSuffix(strings.TrimRight(cfg.PublicURL, "/"), "/dicomweb"), TrustForwarded: cfg.TrustForwarded,
		SecureCookie: sc.SecureCookie, PageOnOpen: true, Logger: log.With("component", "share"),
	})
	return api, nil
}

// studyOwners answers who holds a study from the recognition service.
type studyOwners struct {
	db index.Store
	rs *recognition.Service
}

func (o studyOwners) StudyInstitution(ctx context.Context, study string) string {
	st, err := o.db.Study(study)
	if err != nil {
		return ""
	}
	return o.rs.StudyInstitution(ctx, st)
}

func (o studyOwners) StudyPerson(ctx context.Context, study string) string {
	st, err := o.db.Study(study)
	if err != nil {
		return ""
	}
	return o.rs.StudyPerson(ctx, st)
}

// shareCommands are gateway share's subcommands.
var shareCommands = group{name: "share", summary: "make a share link with a QR code for a patient's phone, revoke one, or manage the signing keys (through a running gateway)", subs: []subcommand{
	{"create", "make a share link and its QR code for a study (\"gateway share --study\" works too)",
		"GATEWAY_TOKEN=$ADMIN gateway share create --study 1.2.840.1 --hours 72 --pin 4821"},
	{"revoke", "revoke a share link by id: the link and its open sessions stop working now", "GATEWAY_TOKEN=$ADMIN gateway share revoke s-3k2jd"},
	{"keys", "list the share signing keys; rotate makes a new one sign, retire KID stops one verifying", "GATEWAY_TOKEN=$ADMIN gateway share keys rotate"},
}}

// shareCmd: gateway share create --study UID [...] | share revoke ID |
// share keys [rotate|retire KID]. "gateway share --study UID" is create.
func shareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && !slices.Contains([]string{"-h", "--help", "-help"}, args[0]) {
		args = append([]string{"create"}, args...) // the older form
	}
	name, err := shareCommands.dispatch(args, stdout, stderr)
	if err != nil {
		return err
	}
	switch name {
	case "revoke":
		fs, c := newAdminFlags("share revoke", stderr, shareCommands.help(name, " [flags] ID"))
		if err := parseSettings(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: gateway share revoke ID", errUsage)
		}
		if _, err := c.call(ctx, "DELETE", "/api/v1/shares/"+url.PathEscape(fs.Arg(0)), nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "share %s revoked: its link and open sessions stop working now\n", fs.Arg(0))
		return nil
	case "keys":
		return shareKeysCmd(ctx, args[1:], stdout, stderr)
	}
	fs, c := newAdminFlags("share create", stderr, shareCommands.help(name, " --study UID [--hours 72] [--download] [--pin 1234] [--uses N]"))
	var study, pin string
	var hours float64
	var download bool
	var uses int
	fs.StringVar(&study, "study", "", "Study Instance UID to share")
	fs.Float64Var(&hours, "hours", 72, "hours the link lives")
	fs.BoolVar(&download, "download", false, "also allow downloading the DICOM files (and a zip)")
	fs.StringVar(&pin, "pin", "", "PIN (4 to 12 digits) asked before opening; three wrong ones lock the link")
	fs.IntVar(&uses, "uses", 0, "number of opens allowed (0: unlimited)")
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	if study == "" {
		return fmt.Errorf("%w: --study is required (gateway share create -h)", errUsage)
	}
	b, err := c.call(ctx, "POST", "/api/v1/shares", map[string]any{"study": study, "hours": hours, "download": download, "pin": pin, "uses": uses})
	if err != nil {
		return err
	}
	var r struct {
		ID      string    `json:"id"`
		URL     string    `json:"url"`
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	qr, err := share.NewQR(r.URL)
	if err != nil {
		return err
	}
	allow := "view only"
	if download {
		allow = "view and download"
	}
	fmt.Fprintf(stdout, "share %s (%s), valid until %s\n\n%s\n\n%s\n", r.ID, allow,
		r.Expires.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04 CST"), r.URL, qr.Terminal(isTerminal(stdout)))
	fmt.Fprintf(stdout, "revoke with: gateway share revoke %s\n", r.ID)
	return nil
}

// shareKeysCmd lists, rotates or retires share signing keys.
func shareKeysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newAdminFlags("share keys", stderr, shareCommands.help("keys", " [flags] [rotate | retire KID]"))
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	var b []byte
	var err error
	switch {
	case fs.NArg() == 0:
		b, err = c.call(ctx, "GET", "/api/v1/admin/share-keys", nil)
	case fs.Arg(0) == "rotate" && fs.NArg() == 1:
		b, err = c.call(ctx, "POST", "/api/v1/admin/share-keys", nil)
	case fs.Arg(0) == "retire" && fs.NArg() == 2:
		b, err = c.call(ctx, "DELETE", "/api/v1/admin/share-keys/"+url.PathEscape(fs.Arg(1)), nil)
	default:
		return fmt.Errorf("%w: gateway share keys [rotate | retire KID]", errUsage)
	}
	if err != nil {
		return err
	}
	var keys []share.KeyInfo
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	for _, k := range keys {
		state := "verifies"
		if k.Signing {
			state = "signs new links"
		} else if k.Retired != nil {
			state = "retired " + k.Retired.Format(time.DateTime)
		}
		fmt.Fprintf(stdout, "%-10s created %s  %s\n", k.ID, k.Created.Format(time.DateTime), state)
	}
	return nil
}

// isTerminal reports whether w is a character device (colours then make
// the QR code scan on dark terminals too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
