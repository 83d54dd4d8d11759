package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/consentapi"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/httpapi/shareapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/metrics"
	"github.com/imgcloud/gateway/records"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// gateway is an assembled gateway: its HTTP server (not yet listening)
// and what must be closed when it stops. serve listens with it; tests
// build one in-process to walk its routes.
type gateway struct {
	echo    *echo.Echo
	db      *index.DB
	closers []func() error
	// policy is the route policy the access middleware applies.
	policy *access.Policy
	log    *slog.Logger
}

// close releases the parts in reverse order of opening.
func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i](); err != nil {
			g.log.Error("close", "err", err)
		}
	}
	g.closers = nil
}

// assemble opens storage and the index, recovers, loads the demo when
// asked, and builds every service and the HTTP server on them.
func assemble(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) (_ *gateway, err error) {
	gw := &gateway{log: log}
	defer func() {
		if err != nil {
			gw.close() // what was opened before the failure
		}
	}()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(cfg.Data, "index"), MinFreeBytes: cfg.MinFreeBytes, Logger: log.With("component", "index")})
	if err != nil {
		return nil, err
	}
	gw.db = db
	gw.closers = append(gw.closers, func() error {
		if err := db.Close(); err != nil {
			return fmt.Errorf("close index: %w", err)
		}
		return nil
	})
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	rec := records.New(store, db)
	cons, err := consent.New(ctx, rec, nil)
	if err != nil {
		return nil, err
	}
	rs, err := setupRecognition(ctx, cfg, store, db, cons, log) // recognition.go
	if err != nil {
		return nil, err
	}
	svc := archive.New(store, db, archive.Options{
		MaxInstanceBytes: cfg.MaxInstanceBytes, TempDir: tmp, Logger: log.With("component", "archive"),
		SpaceDirs: spaceDirs(cfg), MinFreeBytes: cfg.MinFreeBytes,
		Annotators: []archive.Annotator{rs}, Observers: []archive.Observer{rs}, Admission: access.NewAdmission(rs), // PACS identity
		DefaultCharset: cfg.DefaultCharset, Charsets: rs,
		// Own institution, consent, share scope: one rule for QIDO, WADO and
		// the recognition API.
		Visibility: access.NewVisibility(rs, cons),
	})
	if checked, dropped, err := svc.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	} else if checked > 0 {
		log.Info("checked rows written since the last checkpoint", "rows", checked, "dropped", dropped)
	}
	if cfg.Demo {
		if err := loadDemoIfEmpty(ctx, svc, db, tmp, log); err != nil {
			return nil, err
		}
	}
	if cfg.Access.AuditKeyFile == "" {
		cfg.Access.AuditKeyFile = filepath.Join(cfg.Data, "secrets", "audit-keys.json")
	}
	acc, err := setupAccess(ctx, cfg.Access, store, db, rec, stdout, log)
	if err != nil {
		return nil, err
	}
	gw.closers = append(gw.closers, func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := acc.audit.Close(cctx); err != nil {
			return fmt.Errorf("close audit trail: %w", err)
		}
		return nil
	})
	shares, err := setupShares(cfg, svc, db, rs, acc, log) // share.go
	if err != nil {
		return nil, err
	}
	m := metrics.New(db.Counts)
	fed, err := setupFederation(cfg.Federation, cfg.Data, cfg.PublicURL, rs, m, stdout, log) // federation.go
	if err != nil {
		return nil, err
	}
	policy, err := server.Policy(append(fed.rules(), apiRules(), shareapi.LinkRules)...)
	if err != nil {
		return nil, err
	}
	authn := acc.authenticator(append(fed.sessions(), shares.Session)...)
	admin := &adminapi.API{Tokens: acc.tokens, Audit: acc.audit, Facts: reportFacts{db: db, rs: rs}} // the regulators' report
	sopt := server.Options{
		// Audit events name the person of a study.
		Access: guard.Middleware(acc.guard(cfg.Access, authn, policy, rs.PersonKeyOf)),
		API: []func(g *echo.Group){admin.Register, recognitionAPI(rs),
			(&consentapi.API{Consents: cons}).Register, shares.Register},
		Routes: []func(e *echo.Echo){shares.RegisterLinks}, // share links at /s/
		// The asking institution of DICOMweb requests, for the recognition tag.
		Middleware: []echo.MiddlewareFunc{recognitionapi.Asking},
		DICOMweb: dicomweb.Options{
			PublicURL: cfg.PublicURL, TrustForwarded: cfg.TrustForwarded, MaxRequestBytes: cfg.MaxRequestBytes,
			PresignRedirect: cfg.PresignRedirect, MaxStowParts: cfg.StowMaxParts, MaxAnswerBytes: cfg.MaxAnswerBytes,
		},
		CORSOrigins: strings.Split(cfg.CORSOrigins, ","),
		Logger:      log,
		Metrics:     m,
		Viewer:      viewerstatic.FS(),
	}
	sopt.BodyIdleTimeout = cfg.BodyIdleTimeout // slow-loris bodies: see internal/idleread
	fed.wire(&sopt)
	gw.echo = server.New(svc, sopt)
	// Default deny made loud: a route nobody gave a rule stops the start.
	if err := policy.Cover(server.Routes(gw.echo)); err != nil {
		return nil, err
	}
	gw.policy = policy
	return gw, nil
}

// apiRules are the access rules of the JSON APIs assemble mounts under
// /api/v1 (federation's are added by federationParts.rules).
func apiRules() access.Rules {
	all := access.Rules{}
	for _, set := range []access.Rules{adminapi.AccessRules, recognitionapi.AccessRules, consentapi.AccessRules, shareapi.AccessRules} {
		for k, r := range set {
			all[k] = r
		}
	}
	return access.Prefix(server.APIRoot, all)
}
