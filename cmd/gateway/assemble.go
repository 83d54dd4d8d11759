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
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/httpapi/adminapi"
	"github.com/imgcloud/gateway/httpapi/consentapi"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/httpapi/shareapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/metrics"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// gateway is an assembled gateway: its HTTP server (not yet listening)
// and what must be closed when it stops. serve listens with it; tests
// build one in-process to walk its routes.
type gateway struct {
	echo    *echo.Echo
	db      index.Store
	closers []func() error
	// policy is the route policy the access middleware applies.
	policy *access.Policy
	log    *slog.Logger
	// dicom is the DICOM service (nil when --dicom-listen is empty).
	dicom *scp.Service
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

// parts are the services assemble builds, for the HTTP server on them.
type parts struct {
	db       index.Store
	archive  *archive.Service
	rs       *recognition.Service
	consents *consent.Service
	access   *accessParts
	shares   *shareapi.API
	fed      *federationParts // nil when federation is off
	metrics  *metrics.Metrics
	aes      *access.AEDirectory // nil when the DICOM service is off
	codecs   *codec.Set          // the pixel codecs of this build (codecs.go)
	// replicas counts the gateways on this index (replicas.go).
	replicas func() int
}

// assemble opens storage and the index, builds the domain services, the
// access parts and the HTTP server on them, part by part.
func assemble(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) (_ *gateway, err error) {
	gw := &gateway{log: log}
	defer func() {
		if err != nil {
			gw.close() // what was opened before the failure
		}
	}()
	p := &parts{codecs: pixelCodecs(log)}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if p.db, err = gw.openIndex(ctx, cfg, log); err != nil {
		return nil, err
	}
	gw.db = p.db
	p.replicas = gw.countReplicas(p.db, log)
	keys, err := gw.openSecrets(&cfg, p.db, log) // secrets.go: one set across replicas
	if err != nil {
		return nil, err
	}
	rec := records.New(store, p.db)
	if p.consents, err = consent.New(ctx, rec, nil); err != nil {
		return nil, err
	}
	if p.rs, err = setupRecognition(ctx, cfg, store, p.db, p.consents, log); err != nil { // recognition.go
		return nil, err
	}
	gw.indexHoldings(p.rs, leaseOf(p.db), log)
	warnCompression(log, p.rs.CompressionAsked(), p.codecs)
	if p.archive, err = openArchive(ctx, cfg, store, p, log); err != nil {
		return nil, err
	}
	if p.access, err = gw.openAccess(ctx, cfg, store, p.db, rec, stdout, log); err != nil { // access.go
		return nil, err
	}
	keys.onChange("audit-keys", p.access.audit.ReloadKeys)
	if p.shares, err = setupShares(cfg, p.archive, p.db, p.rs, p.access, keys, log); err != nil { // share.go
		return nil, err
	}
	p.metrics = metrics.New(p.db.Counts)
	p.metrics.CacheStats(func() []metrics.CacheStat {
		var out []metrics.CacheStat
		for _, c := range p.db.CacheStats() {
			out = append(out, metrics.CacheStat{Name: c.Name, Hits: c.Hits, Misses: c.Misses, Bytes: c.Bytes})
		}
		return out
	})
	p.metrics.IngestCompression(func() []metrics.CompressionStat { return compressionStats(p.archive) })
	if p.fed, err = setupFederation(cfg.Federation, cfg.Data, cfg.PublicURL, p.rs, p.metrics, stdout, log); err != nil { // federation.go
		return nil, err
	}
	if p.aes, err = openAEs(ctx, cfg, rec); err != nil { // dicom.go
		return nil, err
	}
	if gw.echo, gw.policy, err = httpServer(cfg, p, log); err != nil {
		return nil, err
	}
	if gw.dicom, err = setupDICOM(cfg, p, log); err != nil { // dicom.go
		return nil, err
	}
	return gw, nil
}

// indexHoldings records the holders of studies the index does not place
// under one yet (recognition.IndexHoldings), in the background; closing
// the gateway stops it before the index closes. With replicas on one
// index it runs under the lease "index-holdings" (one at a time; a
// replica that finds it held waits, then finds little left to do).
func (g *gateway) indexHoldings(rs *recognition.Service, lease func(string, time.Duration) (bool, error), log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if lease != nil {
			stop, ok := holdWhile(ctx, lease, "index-holdings")
			if !ok {
				return
			}
			defer stop()
		}
		n, err := rs.IndexHoldings(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("index holding institutions", "recorded", n, "err", err)
		case n > 0:
			log.Info("index holding institutions", "recorded", n)
		}
	}()
	g.closers = append(g.closers, func() error { cancel(); <-done; return nil })
}

// workLease is the lease of start-up work, renewed at a third of it.
const workLease = 30 * time.Second

// holdWhile waits until this replica holds lease name, then renews it
// until stop is called (the work done) or ctx ends (the gateway closing);
// false when ctx ended first. The lease is left to run out, so replicas
// still waiting start late and find the work done. A holder killed
// mid-way stops renewing, so another takes the work over within
// workLease.
func holdWhile(ctx context.Context, lease func(string, time.Duration) (bool, error), name string) (stop func(), ok bool) {
	for {
		if ok, err := lease(name, workLease); err == nil && ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(workLease / 3):
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(workLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = lease(name, workLease) // a failed renewal: another may take it over
			}
		}
	}()
	return cancel, true
}

// openIndex opens the index, to be closed with the gateway.
func (g *gateway) openIndex(ctx context.Context, cfg Config, log *slog.Logger) (index.Store, error) {
	db, err := openIndexStore(ctx, cfg, log) // indexbackend.go
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, func() error {
		if err := db.Close(); err != nil {
			return fmt.Errorf("close index: %w", err)
		}
		return nil
	})
	return db, nil
}

// openArchive builds the archive with its hooks (recognition's
// annotations and checks, the PACS identity and visibility rules),
// recovers what a crash may have left and loads the demo when asked.
func openArchive(ctx context.Context, cfg Config, store storage.Store, p *parts, log *slog.Logger) (*archive.Service, error) {
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	svc := archive.New(store, p.db, archive.Options{
		MaxInstanceBytes: cfg.MaxInstanceBytes, TempDir: tmp, Logger: log.With("component", "archive"),
		SpaceDirs: spaceDirs(cfg), MinFreeBytes: cfg.MinFreeBytes, MaxExamined: cfg.QIDOScanLimit, DefaultLimit: cfg.QIDODefaultLimit,
		Annotators: []archive.Annotator{p.rs}, Observers: []archive.Observer{p.rs},
		Admission:      access.NewAdmission(p.rs), // PACS identity
		DefaultCharset: cfg.DefaultCharset, Charsets: p.rs,
		// Own institution, consent, share scope: one rule for QIDO, WADO and
		// the recognition API.
		Visibility: access.NewVisibility(p.rs, p.consents),
		Codecs:     p.codecs,
		// Institutions' compress_at_ingest (recognition), with p.codecs.
		Compression: p.rs,
	})
	if checked, dropped, err := svc.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	} else if checked > 0 {
		log.Info("checked rows written since the last checkpoint", "rows", checked, "dropped", dropped)
	}
	if cfg.Demo {
		if err := loadDemoIfEmpty(ctx, svc, p.db, log); err != nil {
			return nil, err
		}
	}
	return svc, nil
}

// openAccess opens the token store and the audit trail (closed with the
// gateway).
func (g *gateway) openAccess(ctx context.Context, cfg Config, store storage.Store, db index.Store, rec *records.Store, stdout io.Writer, log *slog.Logger) (*accessParts, error) {
	if cfg.Access.AuditKeyFile == "" {
		cfg.Access.AuditKeyFile = filepath.Join(cfg.Data, "secrets", "audit-keys.json")
	}
	first := firstStart{site: siteRoot(cfg),
		announce: func(token string) {
			adminTokenBox(stdout, "First start: an admin token was created.", token, siteRoot(cfg), cfg.Data)
		},
		elsewhere: func(made firstAdmin) { elsewhereNote(stdout, made, cfg.Data) },
	}
	acc, err := setupAccess(ctx, cfg.Access, store, db, rec, first, log)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := acc.audit.Close(cctx); err != nil {
			return fmt.Errorf("close audit trail: %w", err)
		}
		return nil
	})
	return acc, nil
}

// httpServer builds the route policy, the access middleware and the
// server with every adapter. A route nobody gave a rule stops the start
// (default deny made loud).
func httpServer(cfg Config, p *parts, log *slog.Logger) (*echo.Echo, *access.Policy, error) {
	policy, err := server.Policy(append(p.fed.rules(), apiRules(), shareapi.LinkRules)...)
	if err != nil {
		return nil, nil, err
	}
	authn := p.access.authenticator(append(p.fed.sessions(), p.shares.Session)...)
	reg := registry{db: p.db, rs: p.rs}                                                                                           // what tokens and consents may name
	admin := &adminapi.API{Tokens: p.access.tokens, Audit: p.access.audit, Facts: reportFacts{db: p.db, rs: p.rs}, Registry: reg} // Facts: the regulators' report
	if p.aes != nil {
		admin.AEs = p.aes
	}
	sopt := server.Options{
		// Audit events name the person of a study.
		Access: guard.Middleware(p.access.guard(cfg.Access, authn, policy, p.rs.PersonKeyOf, p.replicas)),
		API: []func(g *echo.Group){admin.Register, recognitionAPI(p.rs),
			(&consentapi.API{Consents: p.consents, Registry: reg}).Register, p.shares.Register},
		Routes: []func(e *echo.Echo){p.shares.RegisterLinks}, // share links at /s/
		// The asking institution of DICOMweb requests, for the recognition tag.
		Middleware: []echo.MiddlewareFunc{recognitionapi.Asking},
		DICOMweb: dicomweb.Options{
			PublicURL: cfg.PublicURL, TrustForwarded: cfg.TrustForwarded, MaxRequestBytes: cfg.MaxRequestBytes,
			PresignRedirect: cfg.PresignRedirect, MaxStowParts: cfg.StowMaxParts, MaxAnswerBytes: cfg.MaxAnswerBytes,
		},
		CORSOrigins:     strings.Split(cfg.CORSOrigins, ","),
		Logger:          log,
		Metrics:         p.metrics,
		Viewer:          viewerstatic.FS(),
		BodyIdleTimeout: cfg.BodyIdleTimeout, // slow-loris bodies: see internal/idleread
		ReadyNotes:      codecNotes(p.codecs),
		// The registry may change at run time: asked at each /readyz.
		ReadyMore: func() []string { return compressionNotes(p.rs.CompressionAsked(), p.codecs) },
	}
	p.fed.wire(&sopt)
	e := server.New(p.archive, sopt)
	if err := policy.Cover(server.Routes(e)); err != nil {
		return nil, nil, err
	}
	return e, policy, nil
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
