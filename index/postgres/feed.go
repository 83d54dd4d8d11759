package postgres

import (
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/index"
	"github.com/jackc/pgx/v5"
)

// SetCheckpoint records that every row up to seq had its object made
// durable; an older checkpoint than the stored one changes nothing.
func (db *DB) SetCheckpoint(seq uint64) error {
	ctx, cancel := db.ctx()
	defer cancel()
	if _, err := db.pool.Exec(ctx, `UPDATE totals SET checkpoint = $1 WHERE one = 1 AND checkpoint < $1`, int64(seq)); err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	return nil
}

// Checkpoint returns the last recorded checkpoint (0 if none).
func (db *DB) Checkpoint() (uint64, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	var cp int64
	if err := db.pool.QueryRow(ctx, `SELECT checkpoint FROM totals WHERE one = 1`).Scan(&cp); err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	return uint64(cp), nil
}

// RowsAfter calls fn with the instance rows written after seq, in order,
// a page at a time. Rows deleted since are gone from the table.
func (db *DB) RowsAfter(seq uint64, fn func(*index.Instance) error) error {
	after := int64(seq)
	for page := 0; ; page++ {
		n := pageSize(page)
		ctx, cancel := db.ctx()
		rows, err := db.pool.Query(ctx, `SELECT row_json FROM instances WHERE seq > $1 ORDER BY seq LIMIT $2`, after, n)
		if err != nil {
			cancel()
			return fmt.Errorf("rows after %d: %w", seq, err)
		}
		list, err := instances(rows, fmt.Sprintf("rows after %d", seq))
		cancel()
		if err != nil {
			return err
		}
		for _, in := range list {
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(list) < n {
			return nil
		}
		after = int64(list[len(list)-1].Seq)
	}
}

// HoldingsMark returns the mark of the last complete holding pass ("" if
// none), from index_meta.
func (db *DB) HoldingsMark() (string, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	var mark string
	err := db.pool.QueryRow(ctx, `SELECT value FROM index_meta WHERE name = 'holdings_mark'`).Scan(&mark)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read holdings mark: %w", err)
	}
	return mark, nil
}

// SetHoldingsMark records the mark of a complete holding pass ("" clears
// it).
func (db *DB) SetHoldingsMark(mark string) error {
	ctx, cancel := db.ctx()
	defer cancel()
	var err error
	if mark == "" {
		_, err = db.pool.Exec(ctx, `DELETE FROM index_meta WHERE name = 'holdings_mark'`)
	} else {
		_, err = db.pool.Exec(ctx, `INSERT INTO index_meta (name, value) VALUES ('holdings_mark', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, mark)
	}
	if err != nil {
		return fmt.Errorf("set holdings mark: %w", err)
	}
	return nil
}
