package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/imgcloud/gateway/index"
)

// Scans of the secondary keys read pages in key order with keyset
// pagination (WHERE (val, ord) > (last) ORDER BY val, ord LIMIT n: the
// B-tree of the primary key, no OFFSET, no sort), and hold no transaction
// while fn runs. Merges of several values are k-way merges of one such
// stream per value, as in the Badger index, so that the first page of a
// QIDO answer reads only its first rows of each value.

// prefixEnd returns the least byte string greater than every string that
// starts with p, or nil when there is none (p empty or all 0xFF).
func prefixEnd(p string) []byte {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return b[:i+1]
		}
	}
	return nil
}

// keyRow is one row of a scan: a key's value and order key.
type keyRow struct{ val, ord string }

// page reads up to n keys of kind after (val, ord), with values equal
// to value (exact) or starting with it.
func (db *DB) page(ctx context.Context, kind index.Kind, value string, exact bool, after keyRow, n int) ([]keyRow, error) {
	var sql string
	args := []any{string(kind), []byte(value), []byte(after.ord), n}
	if exact {
		sql = `SELECT val, ord FROM study_keys WHERE kind = $1 AND val = $2 AND ord > $3 ORDER BY ord LIMIT $4`
	} else {
		args = append(args, []byte(after.val))
		sql = `SELECT val, ord FROM study_keys WHERE kind = $1 AND val >= $2 AND (val, ord) > ($5, $3)`
		if end := prefixEnd(value); end != nil {
			args = append(args, end)
			sql += ` AND val < $6`
		}
		sql += ` ORDER BY val, ord LIMIT $4`
	}
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var v, o []byte
		if err := rows.Scan(&v, &o); err != nil {
			return nil, err
		}
		out = append(out, keyRow{string(v), string(o)})
	}
	return out, rows.Err()
}

// stream is a cursor over the keys of one scan, read a page at a time.
type stream struct {
	next func(after keyRow, page int) ([]keyRow, error)
	buf  []keyRow
	last keyRow
	page int
	done bool
}

// head returns the stream's current key, reading a page when needed.
func (s *stream) head() (keyRow, bool, error) {
	if len(s.buf) == 0 && !s.done {
		n := pageSize(s.page)
		rows, err := s.next(s.last, s.page)
		if err != nil {
			return keyRow{}, false, err
		}
		s.page++
		s.buf, s.done = rows, len(rows) < n
	}
	if len(s.buf) == 0 {
		return keyRow{}, false, nil
	}
	return s.buf[0], true, nil
}

func (s *stream) pop() {
	s.last = s.buf[0]
	s.buf = s.buf[1:]
}

func (db *DB) keyStream(kind index.Kind, value string, exact bool) *stream {
	return &stream{next: func(after keyRow, page int) ([]keyRow, error) {
		ctx, cancel := db.ctx()
		defer cancel()
		return db.page(ctx, kind, value, exact, after, pageSize(page))
	}}
}

// ScanKey calls fn for each study with a key of kind equal to value
// (exact, in QIDO order) or starting with it (in value order, then QIDO
// order), until fn returns false.
func (db *DB) ScanKey(kind index.Kind, value string, exact bool, fn func(index.Cursor) bool) error {
	s := db.keyStream(kind, value, exact)
	for {
		k, ok, err := s.head()
		if err != nil {
			return fmt.Errorf("scan %s keys %q: %w", kind, value, err)
		}
		if !ok {
			return nil
		}
		s.pop()
		if !fn(index.CursorOf(k.ord)) {
			return nil
		}
	}
}

// ScanOrder calls fn for each study in QIDO order, starting at the newest
// whose StudyDate and StudyTime do not sort after from, until fn returns
// false.
func (db *DB) ScanOrder(from string, fn func(index.Cursor) bool) error {
	seek := index.OrderFrom(from)
	s := &stream{next: func(after keyRow, page int) ([]keyRow, error) {
		ctx, cancel := db.ctx()
		defer cancel()
		sql, bound := `SELECT ord FROM studies WHERE ord > $1 ORDER BY ord LIMIT $2`, []byte(after.ord)
		if after.ord == "" {
			sql, bound = `SELECT ord FROM studies WHERE ord >= $1 ORDER BY ord LIMIT $2`, []byte(seek)
		}
		rows, err := db.pool.Query(ctx, sql, bound, pageSize(page))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []keyRow
		for rows.Next() {
			var o []byte
			if err := rows.Scan(&o); err != nil {
				return nil, err
			}
			out = append(out, keyRow{ord: string(o)})
		}
		return out, rows.Err()
	}}
	for {
		k, ok, err := s.head()
		if err != nil {
			return fmt.Errorf("scan study order: %w", err)
		}
		if !ok {
			return nil
		}
		s.pop()
		if !fn(index.CursorOf(k.ord)) {
			return nil
		}
	}
}

// EstimateOrder counts the studies ScanOrder(from) visits down to the
// DateTime to ("": to the end), up to max, in one bounded count. The
// order key is the DateTime with each byte inverted, 0xFF, then the UID
// (index.OrderOf): a DateTime at or above to has an order key below
// OrderFrom(to) followed by two 0xFF bytes (digits and dots are below
// 0xFF), one below it does not.
func (db *DB) EstimateOrder(from, to string, max int) int {
	ctx, cancel := db.ctx()
	defer cancel()
	cond, args := `ord >= $1`, []any{[]byte(index.OrderFrom(from)), max}
	if to != "" {
		cond, args = cond+` AND ord < $3`, append(args, []byte(index.OrderFrom(to)+"\xff\xff"))
	}
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM studies WHERE `+cond+` LIMIT $2) AS capped`, args...).Scan(&n)
	if err != nil {
		db.log.Error("estimate study order", "err", err)
		return max // unknown: as unselective as allowed
	}
	return n
}

// Estimate counts the keys ScanKey would visit, up to max.
func (db *DB) Estimate(kind index.Kind, value string, exact bool, max int) int {
	ctx, cancel := db.ctx()
	defer cancel()
	cond, args := `kind = $1 AND val = $2`, []any{string(kind), []byte(value), max}
	if !exact {
		cond = `kind = $1 AND val >= $2`
		if end := prefixEnd(value); end != nil {
			cond, args = cond+` AND val < $4`, append(args, end)
		}
	}
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM study_keys WHERE `+cond+` LIMIT $3) AS capped`, args...).Scan(&n)
	if err != nil {
		db.log.Error("estimate keys", "kind", kind, "err", err)
		return max // unknown: as unselective as allowed, so no plan relies on it
	}
	return n
}

// ScanMerged streams the studies with a key of kind matching any probe
// in QIDO order, each once, by merging one stream per distinct value. It
// returns false, having called fn for nothing, when the probes cover more
// than maxValues distinct values.
func (db *DB) ScanMerged(kind index.Kind, probes []index.Probe, maxValues int, fn func(index.Cursor) bool) (bool, error) {
	var values []string
	for _, p := range probes {
		if p.Exact {
			if !slices.Contains(values, p.Value) {
				values = append(values, p.Value)
			}
			continue
		}
		vs, err := db.distinctValues(kind, p.Value, maxValues+1-len(values))
		if err != nil {
			return false, fmt.Errorf("scan %s keys: %w", kind, err)
		}
		for _, v := range vs {
			if !slices.Contains(values, v) {
				values = append(values, v)
			}
		}
		if len(values) > maxValues {
			return false, nil
		}
	}
	streams := make([]*stream, len(values))
	for i, v := range values {
		streams[i] = db.keyStream(kind, v, true)
	}
	if err := merge(streams, fn); err != nil {
		return false, fmt.Errorf("scan %s keys: %w", kind, err)
	}
	return true, nil
}

// distinctValues returns up to max distinct values of kind starting with
// prefix, in order: a loose index scan (each value found by one probe of
// the B-tree past the previous one), not a read of every key.
func (db *DB) distinctValues(kind index.Kind, prefix string, max int) ([]string, error) {
	if max <= 0 {
		max = 1
	}
	ctx, cancel := db.ctx()
	defer cancel()
	end := prefixEnd(prefix)
	cond, args := ``, []any{string(kind), []byte(prefix), max}
	if end != nil {
		cond, args = ` AND val < $4`, append(args, end)
	}
	rows, err := db.pool.Query(ctx, `WITH RECURSIVE v (val) AS (
		  (SELECT val FROM study_keys WHERE kind = $1 AND val >= $2`+cond+` ORDER BY val LIMIT 1)
		  UNION ALL
		  SELECT (SELECT k.val FROM study_keys k WHERE k.kind = $1 AND k.val > v.val`+cond+` ORDER BY k.val LIMIT 1)
		  FROM v WHERE v.val IS NOT NULL
		)
		SELECT val FROM v WHERE val IS NOT NULL LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, string(v))
	}
	return out, rows.Err()
}

// ScanUnion streams the studies with any of keys in QIDO order, each
// once, by merging one stream per key, until fn returns false.
func (db *DB) ScanUnion(keys []index.Key, fn func(index.Cursor) bool) error {
	streams := make([]*stream, len(keys))
	for i, k := range keys {
		streams[i] = db.keyStream(k.Kind, k.Value, true)
	}
	if err := merge(streams, fn); err != nil {
		return fmt.Errorf("scan keys: %w", err)
	}
	return nil
}

// merge calls fn with the studies of every stream in order-key order,
// each once, until fn returns false.
func merge(streams []*stream, fn func(index.Cursor) bool) error {
	last := ""
	for {
		best := -1
		var bestKey keyRow
		for i, s := range streams {
			k, ok, err := s.head()
			if err != nil {
				return err
			}
			if ok && (best < 0 || k.ord < bestKey.ord) {
				best, bestKey = i, k
			}
		}
		if best < 0 {
			return nil
		}
		streams[best].pop()
		if bestKey.ord == last {
			continue // the same study under another value
		}
		last = bestKey.ord
		if !fn(index.CursorOf(bestKey.ord)) {
			return nil
		}
	}
}
