package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/imgcloud/gateway/index"
)

// PutRecord stores a record value, replacing any earlier one.
func (db *DB) PutRecord(kind, id string, v []byte) error {
	ctx, cancel := db.ctx()
	defer cancel()
	if _, err := db.pool.Exec(ctx, upsertRecord, kind, id, nonNil(v)); err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	return nil
}

const upsertRecord = `INSERT INTO records (kind, id, val) VALUES ($1, $2, $3) ON CONFLICT (kind, id) DO UPDATE SET val = EXCLUDED.val`

// nonNil keeps an empty value a value: the column is NOT NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// CreateRecord stores a record only if none exists under kind/id; it
// returns index.ErrExists otherwise.
func (db *DB) CreateRecord(kind, id string, v []byte) error {
	ctx, cancel := db.ctx()
	defer cancel()
	tag, err := db.pool.Exec(ctx, `INSERT INTO records (kind, id, val) VALUES ($1, $2, $3) ON CONFLICT (kind, id) DO NOTHING`, kind, id, nonNil(v))
	if err != nil {
		return fmt.Errorf("create record %s/%s: %w", kind, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create record %s/%s: %w", kind, id, index.ErrExists)
	}
	return nil
}

// GetRecord returns a record value.
func (db *DB) GetRecord(kind, id string) ([]byte, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT val FROM records WHERE kind = $1 AND id = $2`, kind, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("record %s/%s: %w", kind, id, index.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s/%s: %w", kind, id, err)
	}
	return v, nil
}

// DeleteRecord removes a record; a missing one is not an error.
func (db *DB) DeleteRecord(kind, id string) error {
	ctx, cancel := db.ctx()
	defer cancel()
	if _, err := db.pool.Exec(ctx, `DELETE FROM records WHERE kind = $1 AND id = $2`, kind, id); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", kind, id, err)
	}
	return nil
}

// Records calls fn for every record of a kind in id order until fn
// returns an error, a page at a time.
func (db *DB) Records(kind string, fn func(id string, v []byte) error) error {
	after := ""
	for page := 0; ; page++ {
		n := pageSize(page)
		ctx, cancel := db.ctx()
		rows, err := db.pool.Query(ctx, `SELECT id, val FROM records WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3`, kind, after, n)
		if err != nil {
			cancel()
			return fmt.Errorf("list records %s: %w", kind, err)
		}
		type rec struct {
			id string
			v  []byte
		}
		var list []rec
		for rows.Next() {
			var r rec
			if err := rows.Scan(&r.id, &r.v); err != nil {
				rows.Close()
				cancel()
				return fmt.Errorf("list records %s: %w", kind, err)
			}
			list = append(list, r)
		}
		err = rows.Err()
		cancel()
		if err != nil {
			return fmt.Errorf("list records %s: %w", kind, err)
		}
		for _, r := range list {
			if err := fn(r.id, r.v); err != nil {
				return err
			}
		}
		if len(list) < n {
			return nil
		}
		after = list[len(list)-1].id
	}
}

// UpdateRecords runs fn in one transaction: every record it sets is
// stored, or none.
func (db *DB) UpdateRecords(fn func(set func(kind, id string, v []byte) error) error) error {
	ctx, cancel := db.ctx()
	defer cancel()
	err := db.tx(ctx, func(tx pgx.Tx) error {
		return fn(func(kind, id string, v []byte) error {
			_, err := tx.Exec(ctx, upsertRecord, kind, id, nonNil(v))
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("update records: %w", err)
	}
	return nil
}

// LastRecord returns the record of a kind with the greatest id, or an
// empty id when the kind has none.
func (db *DB) LastRecord(kind string) (id string, v []byte, err error) {
	ctx, cancel := db.ctx()
	defer cancel()
	err = db.pool.QueryRow(ctx, `SELECT id, val FROM records WHERE kind = $1 ORDER BY id DESC LIMIT 1`, kind).Scan(&id, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("last record %s: %w", kind, err)
	}
	return id, v, nil
}

// WriteRecords runs fn in one transaction with set and create: a create
// of a kind/id that exists (committed by another replica, or waited for
// until it committed) stores nothing and returns an error wrapping
// index.ErrExists.
func (db *DB) WriteRecords(fn func(set, create func(kind, id string, v []byte) error) error) error {
	ctx, cancel := db.ctx()
	defer cancel()
	err := db.tx(ctx, func(tx pgx.Tx) error {
		set := func(kind, id string, v []byte) error {
			_, err := tx.Exec(ctx, upsertRecord, kind, id, nonNil(v))
			return err
		}
		create := func(kind, id string, v []byte) error {
			_, err := tx.Exec(ctx, `INSERT INTO records (kind, id, val) VALUES ($1, $2, $3)`, kind, id, nonNil(v))
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return fmt.Errorf("record %s/%s: %w", kind, id, index.ErrExists)
			}
			return err
		}
		return fn(set, create)
	})
	if err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	return nil
}

// UpdateRecord replaces kind/id by what fn makes of its value, holding the
// record's row lock (SELECT ... FOR UPDATE) in between, so that replicas
// counting a share link's uses count each once.
func (db *DB) UpdateRecord(kind, id string, fn func(old []byte) ([]byte, error)) error {
	ctx, cancel := db.ctx()
	defer cancel()
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var old []byte
		err := tx.QueryRow(ctx, `SELECT val FROM records WHERE kind = $1 AND id = $2 FOR UPDATE`, kind, id).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record %s/%s: %w", kind, id, index.ErrNotFound)
		}
		if err != nil {
			return err
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE records SET val = $3 WHERE kind = $1 AND id = $2`, kind, id, nonNil(v))
		return err
	})
	if err != nil {
		return fmt.Errorf("update record %s/%s: %w", kind, id, err)
	}
	return nil
}
