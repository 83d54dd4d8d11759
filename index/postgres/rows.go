package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/imgcloud/gateway/index"
)

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func decode[T any](b []byte, what string) (*T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return &v, nil
}

func getStudy(ctx context.Context, q querier, uid string, forUpdate bool) (*index.Study, error) {
	sql := `SELECT row_json FROM studies WHERE uid = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var b []byte
	err := q.QueryRow(ctx, sql, uid).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("study %s: %w", uid, index.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get study %s: %w", uid, err)
	}
	return decode[index.Study](b, "study "+uid)
}

// Study returns one study row.
func (db *DB) Study(uid string) (*index.Study, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	return getStudy(ctx, db.pool, uid, false)
}

// Studies returns the study rows of uids in their order, nil for each
// that is not indexed, in one query.
func (db *DB) Studies(uids []string) ([]*index.Study, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	ctx, cancel := db.ctx()
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT uid, row_json FROM studies WHERE uid = ANY($1)`, uids)
	if err != nil {
		return nil, fmt.Errorf("get %d studies: %w", len(uids), err)
	}
	defer rows.Close()
	found := make(map[string]*index.Study, len(uids))
	for rows.Next() {
		var uid string
		var b []byte
		if err := rows.Scan(&uid, &b); err != nil {
			return nil, fmt.Errorf("get %d studies: %w", len(uids), err)
		}
		st, err := decode[index.Study](b, "study "+uid)
		if err != nil {
			return nil, err
		}
		found[uid] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get %d studies: %w", len(uids), err)
	}
	out := make([]*index.Study, len(uids))
	for i, uid := range uids {
		out[i] = found[uid]
	}
	return out, nil
}

func seriesOf(ctx context.Context, q querier, study string) ([]*index.Series, error) {
	rows, err := q.Query(ctx, `SELECT row_json FROM series WHERE study = $1`, study)
	if err != nil {
		return nil, fmt.Errorf("list series of %s: %w", study, err)
	}
	defer rows.Close()
	out := []*index.Series{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list series of %s: %w", study, err)
		}
		se, err := decode[index.Series](b, "series of "+study)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list series of %s: %w", study, err)
	}
	sortSeries(out)
	return out, nil
}

// sortSeries orders series by SeriesNumber, then UID.
func sortSeries(out []*index.Series) {
	sort.Slice(out, func(i, j int) bool {
		ni, _ := out[i].Attrs.Int("00200011")
		nj, _ := out[j].Attrs.Int("00200011")
		if ni != nj {
			return ni < nj
		}
		return out[i].UID < out[j].UID
	})
}

// SeriesOfStudies returns the series of each of studies in one query.
func (db *DB) SeriesOfStudies(studies []string) (map[string][]*index.Series, error) {
	out := make(map[string][]*index.Series, len(studies))
	if len(studies) == 0 {
		return out, nil
	}
	ctx, cancel := db.ctx()
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT study, row_json FROM series WHERE study = ANY($1)`, studies)
	if err != nil {
		return nil, fmt.Errorf("list series of %d studies: %w", len(studies), err)
	}
	defer rows.Close()
	for rows.Next() {
		var study string
		var b []byte
		if err := rows.Scan(&study, &b); err != nil {
			return nil, fmt.Errorf("list series of %d studies: %w", len(studies), err)
		}
		se, err := decode[index.Series](b, "series of "+study)
		if err != nil {
			return nil, err
		}
		out[study] = append(out[study], se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list series of %d studies: %w", len(studies), err)
	}
	for _, ss := range out {
		sortSeries(ss)
	}
	return out, nil
}

// SeriesOf returns the series rows of a study ordered by SeriesNumber
// then UID (none, logged, when the server cannot answer).
func (db *DB) SeriesOf(study string) []*index.Series {
	ctx, cancel := db.ctx()
	defer cancel()
	out, err := seriesOf(ctx, db.pool, study)
	if err != nil {
		db.log.Error("read series rows", "study", study, "err", err)
		return nil
	}
	return out
}

// OneSeries returns one series row.
func (db *DB) OneSeries(study, series string) (*index.Series, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	var b []byte
	err := db.pool.QueryRow(ctx, `SELECT row_json FROM series WHERE study = $1 AND uid = $2`, study, series).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("series %s: %w", series, index.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get series %s: %w", series, err)
	}
	return decode[index.Series](b, "series "+series)
}

// instances decodes the rows of a query selecting row_json.
func instances(rows pgx.Rows, what string) ([]*index.Instance, error) {
	defer rows.Close()
	var out []*index.Instance
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		in, err := decode[index.Instance](b, what)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Instances returns the instance rows under a study (series == "") or a
// series, ordered by series UID, InstanceNumber, then SOP Instance UID.
func (db *DB) Instances(study, series string) ([]*index.Instance, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	sql, args := `SELECT row_json FROM instances WHERE study = $1`, []any{study}
	if series != "" {
		sql, args = sql+` AND series = $2`, append(args, series)
	}
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list instances of %s: %w", study, err)
	}
	out, err := instances(rows, "list instances of "+study)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Series != out[j].Series {
			return out[i].Series < out[j].Series
		}
		ni, _ := out[i].Attrs.Int("00200013")
		nj, _ := out[j].Attrs.Int("00200013")
		if ni != nj {
			return ni < nj
		}
		return out[i].SOP < out[j].SOP
	})
	return out, nil
}

func instanceBySOP(ctx context.Context, q querier, sop string) (*index.Instance, error) {
	var b []byte
	err := q.QueryRow(ctx, `SELECT row_json FROM instances WHERE sop = $1`, sop).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("instance %s: %w", sop, index.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", sop, err)
	}
	return decode[index.Instance](b, "instance "+sop)
}

// InstanceBySOP finds an instance row by its SOP Instance UID alone.
func (db *DB) InstanceBySOP(sop string) (*index.Instance, error) {
	ctx, cancel := db.ctx()
	defer cancel()
	return instanceBySOP(ctx, db.pool, sop)
}

// Instance returns one instance row.
func (db *DB) Instance(study, series, sop string) (*index.Instance, error) {
	in, err := db.InstanceBySOP(sop)
	if err != nil {
		return nil, err
	}
	if in.Study != study || in.Series != series {
		return nil, fmt.Errorf("instance %s: %w", sop, index.ErrNotFound)
	}
	return in, nil
}

// Metadata calls fn with the stored DICOM JSON of each instance of a
// study, a series or one instance, in UID order. It returns ErrNotFound
// when nothing matches.
func (db *DB) Metadata(study, series, sop string, fn func(meta []byte) error) error {
	ctx, cancel := db.ctx()
	defer cancel()
	sql, args := `SELECT meta FROM instances WHERE study = $1`, []any{study}
	if series != "" {
		sql, args = sql+` AND series = $2`, append(args, series)
		if sop != "" {
			sql, args = sql+` AND sop = $3`, append(args, sop)
		}
	}
	rows, err := db.pool.Query(ctx, sql+` ORDER BY series, sop`, args...)
	if err != nil {
		return fmt.Errorf("read metadata of %s: %w", study, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("read metadata of %s: %w", study, err)
		}
		n++
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read metadata of %s: %w", study, err)
	}
	if n == 0 {
		return fmt.Errorf("metadata %s/%s/%s: %w", study, series, sop, index.ErrNotFound)
	}
	return nil
}

// pageSize is how many rows a scan reads per query: the first page is
// small (a QIDO page is 25 studies; fn often stops early), later ones
// larger.
func pageSize(page int) int {
	return min(64<<page, 4096)
}

// AllInstances calls fn for every instance row in SOP Instance UID order
// until fn returns false or an error, a page at a time (no transaction is
// held open while fn runs).
func (db *DB) AllInstances(fn func(*index.Instance) (bool, error)) error {
	after := ""
	for page := 0; ; page++ {
		ctx, cancel := db.ctx()
		rows, err := db.pool.Query(ctx, `SELECT row_json FROM instances WHERE sop > $1 ORDER BY sop LIMIT $2`, after, pageSize(page))
		if err != nil {
			cancel()
			return fmt.Errorf("list instances: %w", err)
		}
		list, err := instances(rows, "list instances")
		cancel()
		if err != nil {
			return err
		}
		for _, in := range list {
			more, err := fn(in)
			if err != nil || !more {
				return err
			}
		}
		if len(list) < pageSize(page) {
			return nil
		}
		after = list[len(list)-1].SOP
	}
}
