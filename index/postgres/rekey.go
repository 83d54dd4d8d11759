package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imgcloud/gateway/index"
)

// rekey rebuilds every study's secondary keys when they were computed
// with another key layout than this gateway's (index.KeyFormat): a new
// kind of key (a gateway upgrade) is then found for the studies stored
// before. Replicas starting at once queue on the table lock; the first
// rebuilds, the others find the format current. Writers wait meanwhile.
func (db *DB) rekey(ctx context.Context) error {
	want := index.KeyFormat()
	return pgx.BeginFunc(ctx, db.pool.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE study_keys IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var have string
		err := tx.QueryRow(ctx, `SELECT value FROM index_meta WHERE name = 'key_format'`).Scan(&have)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if have == want {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM study_keys`); err != nil {
			return err
		}
		n, after := 0, ""
		for {
			rows, err := tx.Query(ctx, `SELECT uid, row_json FROM studies WHERE uid > $1 ORDER BY uid LIMIT 1000`, after)
			if err != nil {
				return err
			}
			var page []*index.Study
			for rows.Next() {
				var uid string
				var b []byte
				if err := rows.Scan(&uid, &b); err != nil {
					rows.Close()
					return err
				}
				st, err := decode[index.Study](b, "study "+uid)
				if err != nil {
					rows.Close()
					return err
				}
				page = append(page, st)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, st := range page {
				if err := setKeys(ctx, tx, nil, st); err != nil {
					return err
				}
			}
			n += len(page)
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].UID
			db.log.Info("index keys rebuilt", "studies", n)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO index_meta (name, value) VALUES ('key_format', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, want); err != nil {
			return err
		}
		if have != "" || n > 0 {
			db.log.Info("index keys upgraded", "from", have, "to", want, "studies", n)
		}
		return nil
	})
}

// errRekey wraps a failed rebuild.
func errRekey(err error) error { return fmt.Errorf("rebuild study keys: %w", unavailable(err)) }
