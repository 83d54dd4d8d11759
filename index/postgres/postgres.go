// Package postgres is the gateway's index on PostgreSQL, for several
// gateway replicas on one database: the same rows, secondary keys and
// semantics as the embedded Badger index (index.DB), checked by one suite
// (index/indextest).
//
// SQL is kept to what PostgreSQL's family accepts (PostgreSQL itself,
// KingbaseES, openGauss, HighGo, PolarDB, YugabyteDB): tables, B-tree
// indexes, a sequence, INSERT ... ON CONFLICT, SELECT ... FOR UPDATE,
// row-value comparisons for keyset pagination, no extensions. The schema
// is embedded (migrations/) and applied in order at Open.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/imgcloud/gateway/index"
)

// Options configure Open.
type Options struct {
	// URL is the connection URL, postgres://user@host:port/db?...; a
	// password may be in it or come from PGPASSWORD or PGPASSFILE (which
	// pgx reads), so that it need not appear on a command line.
	URL string
	// MaxConns bounds the connection pool (0: pgx's default, 4 or the
	// number of CPUs).
	MaxConns int32
	// StatementTimeout bounds every statement on the server and every call
	// here (0: DefaultTimeout).
	StatementTimeout time.Duration
	Logger           *slog.Logger
}

// DefaultTimeout bounds a call when Options.StatementTimeout is 0.
const DefaultTimeout = 30 * time.Second

// DB is the index on PostgreSQL. It implements index.Store.
type DB struct {
	pool    pool // errors classified: classify.go
	log     *slog.Logger
	timeout time.Duration
	// seq is the greatest sequence number this process wrote (or found
	// at Open): what the archive's checkpoint covers after a sync.
	seq atomic.Uint64
}

var (
	_ index.Store  = (*DB)(nil)
	_ index.Leaser = (*DB)(nil)
)

// Open connects, applies the schema migrations this gateway knows and the
// database lacks, and returns the index.
func Open(ctx context.Context, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(opt.URL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("parse index URL %s: invalid PostgreSQL URL", Redact(opt.URL))
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	timeout := opt.StatementTimeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(timeout.Milliseconds())
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", Redact(opt.URL), err)
	}
	db := &DB{pool: pool{p}, log: log, timeout: timeout}
	if err := db.migrate(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open index %s: %w", Redact(opt.URL), err)
	}
	if err := db.rekey(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open index %s: %w", Redact(opt.URL), errRekey(err))
	}
	var last int64
	if err := db.pool.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM row_seq`).Scan(&last); err != nil {
		p.Close()
		return nil, fmt.Errorf("open index %s: read sequence: %w", Redact(opt.URL), err)
	}
	db.seq.Store(uint64(last))
	return db, nil
}

// Redact returns u with its password replaced, for logs and errors.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return p.Redacted()
}

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// ctx bounds one call: the index's methods take no context (the Badger
// index needs none), so each gets the statement timeout.
func (db *DB) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), db.timeout)
}

// tx runs fn in a transaction, again when PostgreSQL aborted it for a
// serialisation failure or a deadlock (two replicas writing one study).
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = unavailable(pgx.BeginFunc(ctx, db.pool.Pool, fn))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// Ping checks that the server answers (the gateway's /readyz).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping index: %w", unavailable(err))
	}
	return nil
}

// Sync does nothing: a committed transaction is durable on the server
// (synchronous_commit on, PostgreSQL's default, which the gateway needs).
func (db *DB) Sync() error { return nil }

// CheckSpace does nothing: the database server minds its own disk.
func (db *DB) CheckSpace() error { return nil }

// CacheStats returns nil: rows are read from the server each time, so
// that every replica sees every other's writes at once.
func (db *DB) CacheStats() []index.CacheStat { return nil }

// Counts reports the totals kept by every write (zeros, logged, when the
// server cannot answer).
func (db *DB) Counts() (studies, series, instances int) {
	ctx, cancel := db.ctx()
	defer cancel()
	var s, se, in int64
	if err := db.pool.QueryRow(ctx, `SELECT studies, series, instances FROM totals WHERE one = 1`).Scan(&s, &se, &in); err != nil {
		db.log.Error("read index totals", "err", err)
		return 0, 0, 0
	}
	return int(s), int(se), int(in)
}
