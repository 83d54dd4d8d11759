package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/storage"
)

// IndexConfig selects the index backend: the embedded Badger under
// --data (the default), or PostgreSQL for several replicas (issue 21).
type IndexConfig struct {
	// Backend is "badger" or a postgres:// (postgresql://) URL. The
	// password may be in the URL or, better, in PGPASSWORD or PGPASSFILE:
	// it is never printed (logs, -h, errors).
	Backend string
	// MaxConns bounds the PostgreSQL connection pool (0: pgx's default).
	MaxConns int
	// StatementTimeout bounds each PostgreSQL statement.
	StatementTimeout time.Duration
}

func defaultIndex() IndexConfig {
	return IndexConfig{Backend: "badger", StatementTimeout: postgres.DefaultTimeout}
}

// Postgres reports whether the index is on PostgreSQL.
func (c IndexConfig) Postgres() bool {
	return strings.HasPrefix(c.Backend, "postgres://") || strings.HasPrefix(c.Backend, "postgresql://")
}

// Redacted is the backend as it may be shown: the URL without password.
func (c IndexConfig) Redacted() string {
	if strings.Contains(c.Backend, "://") { // any URL: a mistyped scheme may still carry a password
		return postgres.Redact(c.Backend)
	}
	return c.Backend
}

func (c IndexConfig) validate() error {
	switch {
	case c.Backend == "badger":
	case c.Postgres():
		if _, err := url.Parse(c.Backend); err != nil {
			return fmt.Errorf("index: %s is not a valid URL", c.Redacted())
		}
	default:
		return fmt.Errorf("index: %q is neither badger nor a postgres:// URL", c.Redacted())
	}
	if c.MaxConns < 0 || c.StatementTimeout < 0 {
		return errors.New("index-max-conns and index-statement-timeout must not be negative")
	}
	return nil
}

func bindIndex(fs *flag.FlagSet, c *IndexConfig) {
	fs.Var((*indexValue)(&c.Backend), "index", "index backend: badger (under --data) or postgres://user@host:port/db for several replicas (password from PGPASSWORD or PGPASSFILE; never printed) ["+envName("index")+"]")
	intv(fs, &c.MaxConns, "index-max-conns", "with a postgres index: most connections in the pool (0: 4 or the number of CPUs)")
	duration(fs, &c.StatementTimeout, "index-statement-timeout", "with a postgres index: longest statement")
}

// indexValue is the --index flag: its String (what flag prints in -h and
// errors) hides a URL's password.
type indexValue string

func (v *indexValue) String() string {
	if v == nil {
		return ""
	}
	return IndexConfig{Backend: string(*v)}.Redacted()
}

func (v *indexValue) Set(s string) error { *v = indexValue(s); return nil }

// openIndexStore opens the configured index backend.
func openIndexStore(ctx context.Context, cfg Config, log *slog.Logger) (index.Store, error) {
	if cfg.Index.Postgres() {
		log.Info("index on PostgreSQL", "url", cfg.Index.Redacted(), "max_conns", cfg.Index.MaxConns)
		return postgres.Open(ctx, postgres.Options{URL: cfg.Index.Backend, MaxConns: int32(cfg.Index.MaxConns),
			StatementTimeout: cfg.Index.StatementTimeout, Logger: log.With("component", "index")})
	}
	return index.Open(index.Options{Dir: filepath.Join(cfg.Data, "index"), MinFreeBytes: cfg.MinFreeBytes, CacheBytes: int(cfg.IndexCacheBytes), Logger: log.With("component", "index")})
}

// openOfflinePostgres is openOffline on a postgres index. Replicas may be
// serving from it (nothing locks it as Badger's folder is locked), so
// --fresh is refused rather than emptying what they serve: reindex adds
// what object storage holds and the index lacks, and into a new, empty
// database it builds the whole index (the way from Badger to PostgreSQL).
func openOfflinePostgres(ctx context.Context, cfg Config, store storage.Store, fresh bool, stderr io.Writer) (*offline, error) {
	if fresh {
		return nil, fmt.Errorf("--fresh with the index on PostgreSQL (%s): refused, running replicas may use it; reindex without --fresh adds what is missing, or give a new empty database", cfg.Index.Redacted())
	}
	log := newLogger(stderr, cfg.LogJSON, cfg.Debug)
	db, err := openIndexStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	svc := archive.New(store, db, archive.Options{TempDir: tmp, Visibility: archive.Unrestricted{}, DefaultCharset: cfg.DefaultCharset, Logger: log})
	return &offline{store: store, db: db, svc: svc}, nil
}

// leaseOf returns the lease function of an index shared by several
// gateways, for work one replica does at a time, or nil (one gateway per
// index: it does everything). The holder names this process.
func leaseOf(db index.Store) func(name string, ttl time.Duration) (bool, error) {
	l, ok := db.(index.Leaser)
	if !ok {
		return nil
	}
	holder := holderName()
	return func(name string, ttl time.Duration) (bool, error) { return l.Lease(name, holder, ttl) }
}

// holderName names this process in leases: host/pid/random.
func holderName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}
