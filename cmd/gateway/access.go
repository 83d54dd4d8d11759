package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
)

// AccessConfig configures authentication, rate limits and the audit trail.
type AccessConfig struct {
	// Disabled turns authentication off: only for a laptop demo.
	Disabled bool
	// AdminToken, when set (GATEWAY_ADMIN_TOKEN), is installed as an admin
	// token, for automation; otherwise one is created and printed once on
	// first start.
	AdminToken string
	JWT        auth.JWTConfig
	RatePerSec float64
	RateBurst  int
	// FailRatePerSec and FailBurst limit, per client address, failed
	// (401, 403) and failing anonymous requests, before authentication.
	FailRatePerSec float64
	FailBurst      int
	AuditExport    time.Duration
	// AuditAnchorEvery is the period of audit checkpoints written to object
	// storage: events after the last one can be truncated undetected.
	AuditAnchorEvery time.Duration
	// AuditRetention keeps checkpoints under S3 object lock that long when
	// the bucket has object lock (--s3-object-lock at its creation).
	AuditRetention time.Duration
	// AuditKeyFile holds the audit MAC keys (default
	// {data}/secrets/audit-keys.json, created on first start, mode 0600).
	AuditKeyFile string
	Share        ShareConfig // share.go
}

func defaultAccess() AccessConfig {
	return AccessConfig{RatePerSec: 200, RateBurst: 400, FailRatePerSec: 1, FailBurst: 20,
		AuditExport: time.Hour, AuditAnchorEvery: 5 * time.Minute, AuditRetention: 10 * 365 * 24 * time.Hour, JWT: auth.JWTConfig{Skew: time.Minute}, Share: defaultShare()}
}

func bindAccess(fs *flag.FlagSet, c *AccessConfig) {
	boolean(fs, &c.Disabled, "no-auth", "DANGER: serve without authentication (local demos only)")
	secretStr(fs, &c.AdminToken, "admin-token", "admin API token to install when its id is new (gw_<id>_<secret>)")
	str(fs, &c.JWT.Issuer, "jwt-issuer", "OIDC/JWT issuer to accept")
	str(fs, &c.JWT.Audience, "jwt-audience", "OIDC/JWT audience to require")
	str(fs, &c.JWT.JWKSFile, "jwt-jwks-file", "JWKS file with the issuer's signing keys")
	str(fs, &c.JWT.JWKSURL, "jwt-jwks-url", "JWKS URL with the issuer's signing keys")
	duration(fs, &c.JWT.Skew, "jwt-skew", "clock skew allowed on JWT times")
	str(fs, &c.JWT.RoleClaim, "jwt-role-claim", "JWT claim holding the role (pacs, clinician, patient, peer, admin)")
	str(fs, &c.JWT.InstitutionClaim, "jwt-institution-claim", "JWT claim holding the institution id")
	float(fs, &c.RatePerSec, "rate-limit", "requests per second allowed per token (0: unlimited)")
	intv(fs, &c.RateBurst, "rate-burst", "burst allowed above the rate limit")
	float(fs, &c.FailRatePerSec, "fail-rate-limit", "failed (401/403) or failing anonymous requests per second allowed per client address, checked before authentication (0: unlimited)")
	intv(fs, &c.FailBurst, "fail-rate-burst", "burst allowed above the failure rate limit")
	duration(fs, &c.AuditExport, "audit-export-every", "period of audit trail exports to object storage (0: never)")
	duration(fs, &c.AuditAnchorEvery, "audit-anchor-every", "period of MAC'd audit checkpoints written to object storage (0: only at exports and shutdown)")
	duration(fs, &c.AuditRetention, "audit-retention", "keep audit checkpoints under S3 object lock (compliance mode) this long, when the bucket has object lock (0: never lock)")
	str(fs, &c.AuditKeyFile, "audit-keys", "audit MAC keys file (default {data}/secrets/audit-keys.json, created on first start)")
	bindShare(fs, &c.Share)
}

// accessParts are what setupAccess builds: the token store, the audit
// trail and what the authenticator is made of.
type accessParts struct {
	rec    *records.Store
	tokens *auth.Tokens
	audit  *audit.Log
	jwt    auth.Verifier // nil without a JWT issuer
	off    bool          // --no-auth
}

// setupAccess opens the token store and the audit trail, installs or
// creates the admin token and loads the JWT issuer's keys; first says
// how to show the admin token created on first start (to the terminal,
// never to the log) and the site it names.
func setupAccess(ctx context.Context, cfg AccessConfig, store storage.Store, db index.Store, rec *records.Store, first firstStart, log *slog.Logger) (*accessParts, error) {
	tokens := auth.NewTokens(rec, nil)
	al, err := audit.Open(db, store, audit.Options{ExportEvery: cfg.AuditExport, AnchorEvery: cfg.AuditAnchorEvery, RetainFor: cfg.AuditRetention,
		KeyFile: cfg.AuditKeyFile, Lease: leaseOf(db), Logger: log.With("component", "audit")})
	if err != nil {
		return nil, err
	}
	parts := &accessParts{rec: rec, tokens: tokens, audit: al, off: cfg.Disabled}
	if cfg.Disabled {
		log.Warn("authentication is OFF (--no-auth): every request is served as an admin; never do this with patient data")
		return parts, nil
	}
	if cfg.AdminToken != "" {
		if err := installAdminToken(ctx, tokens, cfg.AdminToken, log); err != nil {
			return nil, err
		}
	} else {
		first.tokens, first.rec, first.log = tokens, rec, log
		first.lease, _ = db.(index.Leaser)
		if err := first.makeFirstAdmin(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.JWT.JWKSFile != "" || cfg.JWT.JWKSURL != "" {
		v, err := auth.NewJWTVerifier(ctx, cfg.JWT)
		if err != nil {
			return nil, err
		}
		parts.jwt = v
	}
	return parts, nil
}

// authenticator returns the authenticator of every request: tokens and
// JWTs, then the sessions given (signed peer requests first, then share
// sessions). Under --no-auth every request is the anonymous admin, bearer
// or not.
func (a *accessParts) authenticator(sessions ...auth.SessionFunc) *auth.Authenticator {
	if a.off {
		anon := anonymous{}
		return &auth.Authenticator{Tokens: anon, JWT: anon, Sessions: append(sessions, anonymousAdmin)}
	}
	au := &auth.Authenticator{Tokens: a.tokens, Sessions: sessions}
	if a.jwt != nil {
		au.JWT = a.jwt
	}
	return au
}

// guard returns the access middleware's options: the authenticator, the
// route policy, the audit trail and, with authentication on, the rate
// limits.
func (a *accessParts) guard(cfg AccessConfig, authn *auth.Authenticator, policy *access.Policy, personKeyOf func(string) string, replicas func() int) guard.Options {
	o := guard.Options{Auth: authn, Policy: policy, Audit: a.audit, PersonKeyOf: personKeyOf, Replicas: replicas}
	if !a.off {
		o.RatePerSecond, o.Burst = cfg.RatePerSec, cfg.RateBurst
		o.FailRatePerSecond, o.FailBurst = cfg.FailRatePerSec, cfg.FailBurst
	}
	return o
}

// installAdminToken installs the operator's admin token (--admin-token,
// GATEWAY_ADMIN_TOKEN) when its id is new, and says in the log what it
// did: at every start the setting is read again, and it must neither
// bring back a revoked token nor overwrite another one. The secret is
// never logged.
func installAdminToken(ctx context.Context, tokens *auth.Tokens, clear string, log *slog.Logger) error {
	outcome, tok, err := tokens.Import(ctx, clear, auth.RoleAdmin, "", "admin")
	if errors.Is(err, diskspace.ErrFull) {
		// Start anyway (refusing writes with 503) so that an operator
		// can see and fix it; the token is installed at the next start.
		log.Error("admin token not installed: the disk is almost full", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin-token: %w", err)
	}
	switch {
	case outcome == auth.ImportInstalled:
		log.Info("admin token installed from --admin-token/GATEWAY_ADMIN_TOKEN", "token_id", tok.ID)
	case outcome == auth.ImportPresent:
		log.Info("admin token from --admin-token/GATEWAY_ADMIN_TOKEN is already installed", "token_id", tok.ID)
	case tok.Revoked != nil:
		log.Warn("admin token from --admin-token/GATEWAY_ADMIN_TOKEN not installed: its id names a revoked token, which stays revoked; choose a new id",
			"token_id", tok.ID, "revoked", tok.Revoked.Format(time.RFC3339))
	case tok.Role != auth.RoleAdmin:
		log.Warn("admin token from --admin-token/GATEWAY_ADMIN_TOKEN not installed: its id names an existing "+string(tok.Role)+" token, left unchanged; choose a new id",
			"token_id", tok.ID, "role", tok.Role)
	default:
		log.Warn("admin token from --admin-token/GATEWAY_ADMIN_TOKEN not installed: its id names an existing admin token with another secret, left unchanged; choose a new id",
			"token_id", tok.ID)
	}
	return nil
}

// anonymousAdmin is the principal of every request under --no-auth.
func anonymousAdmin(_ *http.Request) (auth.Principal, bool, error) {
	return auth.Principal{Role: auth.RoleAdmin, User: "anonymous (--no-auth)"}, true, nil
}

// anonymous verifies any bearer as the anonymous admin (--no-auth), so
// that a client that sends one is served as one that does not.
type anonymous struct{}

func (anonymous) Verify(_ context.Context, _ string) (auth.Principal, error) {
	p, _, err := anonymousAdmin(nil)
	return p, err
}
