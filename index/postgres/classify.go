package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/imgcloud/gateway/internal/outage"
)

// unavailable wraps err with outage.ErrUnavailable when it says the server
// cannot serve now rather than that the statement is wrong: the callers
// (STOW, QIDO, tokens, audit) then answer 503 and may be retried.
func unavailable(err error) error {
	if err == nil || errors.Is(err, outage.ErrUnavailable) || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		// Class 08: connection exception; 53: insufficient resources (too
		// many connections, disk full); 57P01-57P03: shutdown, crash
		// recovery, not yet accepting; 57014: statement timeout.
		if !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "53") && !strings.HasPrefix(pe.Code, "57P0") && pe.Code != "57014" {
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), pgconn.SafeToRetry(err):
	default:
		return err
	}
	return fmt.Errorf("%w: %w", outage.ErrUnavailable, err)
}

// pool is the connection pool with its errors classified (unavailable).
type pool struct{ *pgxpool.Pool }

func (p pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := p.Pool.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

func (p pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	return classifiedRows{rows}, nil
}

func (p pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{p.Pool.QueryRow(ctx, sql, args...)}
}

type classifiedRow struct{ pgx.Row }

func (r classifiedRow) Scan(dest ...any) error { return unavailable(r.Row.Scan(dest...)) }

type classifiedRows struct{ pgx.Rows }

func (r classifiedRows) Err() error { return unavailable(r.Rows.Err()) }

func (r classifiedRows) Scan(dest ...any) error { return unavailable(r.Rows.Scan(dest...)) }
