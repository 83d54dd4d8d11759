package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/imgcloud/gateway/index"
)

// Writers of a study's rows lock its study row first (SELECT ... FOR
// UPDATE, or the unique index while a new one is inserted): series rows,
// keys and counts of one study change under that lock, so replicas
// adding to one study at once lose no count. The totals row is updated
// last, holding its lock only until the commit.

// errRaced says a row another transaction touched changed under us; the
// write starts again.
var errRaced = errors.New("row changed by a concurrent writer")

func (db *DB) nextSeq(ctx context.Context, tx pgx.Tx) (uint64, error) {
	var s int64
	if err := tx.QueryRow(ctx, `SELECT nextval('row_seq')`).Scan(&s); err != nil {
		return 0, fmt.Errorf("next sequence number: %w", err)
	}
	return uint64(s), nil
}

// wrote records that this process wrote seq (Seq is the greatest).
func (db *DB) wrote(seq uint64) {
	for {
		cur := db.seq.Load()
		if seq <= cur || db.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Seq is the greatest sequence number this process wrote, or found when
// it opened the index.
func (db *DB) Seq() uint64 { return db.seq.Load() }

// PutInstance indexes a new instance and updates its series and study rows
// in one transaction. If the SOP Instance UID is already indexed (by any
// replica) it changes nothing and returns an *index.ExistsError.
func (db *DB) PutInstance(n index.NewInstance) error {
	ctx, cancel := db.ctx()
	defer cancel()
	in := n.Instance
	for range 5 {
		var existing *index.Instance
		var seq uint64
		err := db.tx(ctx, func(tx pgx.Tx) (err error) {
			existing = nil
			if seq, err = db.nextSeq(ctx, tx); err != nil {
				return err
			}
			existing, err = db.putInstance(ctx, tx, n, seq)
			return err
		})
		if errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			return fmt.Errorf("index %s: %w", in.SOP, err)
		}
		db.wrote(seq)
		if existing != nil {
			return &index.ExistsError{Existing: existing}
		}
		in.Seq = seq
		return nil
	}
	return fmt.Errorf("index %s: %w", in.SOP, errRaced)
}

// putInstance is PutInstance's transaction; it returns the row already
// indexed under the SOP Instance UID, if any, having written nothing.
func (db *DB) putInstance(ctx context.Context, tx pgx.Tx, n index.NewInstance, seq uint64) (*index.Instance, error) {
	row := *n.Instance
	row.Seq = seq
	b, err := json.Marshal(&row)
	if err != nil {
		return nil, fmt.Errorf("encode instance: %w", err)
	}
	// The primary key decides between two stores of one instance: the
	// second waits for the first to commit, then inserts nothing.
	tag, err := tx.Exec(ctx, `INSERT INTO instances (sop, study, series, seq, row_json, meta) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sop) DO NOTHING`,
		row.SOP, row.Study, row.Series, int64(seq), b, n.Meta)
	if err != nil {
		return nil, fmt.Errorf("insert instance: %w", err)
	}
	if tag.RowsAffected() == 0 {
		ex, err := instanceBySOP(ctx, tx, row.SOP)
		if errors.Is(err, index.ErrNotFound) {
			return nil, errRaced // deleted since the insert saw it
		}
		return ex, err
	}

	for range 5 {
		st, err := getStudy(ctx, tx, row.Study, true)
		if err != nil && !errors.Is(err, index.ErrNotFound) {
			return nil, err
		}
		var se *index.Series
		if st != nil {
			var sb []byte
			err := tx.QueryRow(ctx, `SELECT row_json FROM series WHERE study = $1 AND uid = $2`, row.Study, row.Series).Scan(&sb)
			if err == nil {
				if se, err = decode[index.Series](sb, "series "+row.Series); err != nil {
					return nil, err
				}
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("get series %s: %w", row.Series, err)
			}
		}
		newSt, newSe, d := added(st, se, n, seq)
		if st == nil {
			ok, err := insertStudy(ctx, tx, newSt)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // another writer created the study: lock and read it
			}
		} else if err := updateStudy(ctx, tx, newSt); err != nil {
			return nil, err
		}
		if err := setKeys(ctx, tx, st, newSt); err != nil {
			return nil, err
		}
		if err := putSeries(ctx, tx, newSe); err != nil {
			return nil, err
		}
		return nil, addTotals(ctx, tx, d)
	}
	return nil, errRaced
}

// delta is a change of the totals.
type delta struct{ studies, series, instances int64 }

// added returns the study and series rows after adding n's instance to
// st and se (nil when new), as index.DB computes them.
func added(st *index.Study, se *index.Series, n index.NewInstance, seq uint64) (*index.Study, *index.Series, delta) {
	d := delta{instances: 1}
	newSt := &index.Study{UID: n.Instance.Study, Attrs: n.StudyAttrs, Received: n.Received.UTC()}
	if st != nil {
		cp := *st
		newSt = &cp
	} else {
		d.studies++
	}
	newSe := &index.Series{Study: n.Instance.Study, UID: n.Instance.Series, Attrs: n.SeriesAttrs}
	if se != nil {
		cp := *se
		newSe = &cp
	} else {
		newSt.Series++
		d.series++
	}
	newSe.Instances++
	newSe.Version = seq
	newSt.Instances++
	newSt.Version = seq
	if !n.Received.IsZero() && n.Received.Before(newSt.Received) {
		newSt.Received = n.Received.UTC() // reindex meets objects in key order, not arrival order
	}
	if n.Modality != "" && !slices.Contains(newSt.Modalities, n.Modality) {
		newSt.Modalities = append(slices.Clone(newSt.Modalities), n.Modality)
		slices.Sort(newSt.Modalities)
	}
	return newSt, newSe, d
}

// insertStudy inserts a new study row; false when another writer
// inserted it first (then committed: the insert waited for it).
func insertStudy(ctx context.Context, tx pgx.Tx, st *index.Study) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, fmt.Errorf("encode study %s: %w", st.UID, err)
	}
	// No conflict target: two writers inserting one new study meet on
	// studies_ord as well as on the key (the order key ends with the
	// UID), and PostgreSQL may report either; both mean "inserted first".
	tag, err := tx.Exec(ctx, `INSERT INTO studies (uid, ord, row_json) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		st.UID, []byte(index.OrderOf(st).Order), b)
	if err != nil {
		return false, fmt.Errorf("insert study %s: %w", st.UID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func updateStudy(ctx context.Context, tx pgx.Tx, st *index.Study) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode study %s: %w", st.UID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE studies SET ord = $2, row_json = $3 WHERE uid = $1`, st.UID, []byte(index.OrderOf(st).Order), b); err != nil {
		return fmt.Errorf("update study %s: %w", st.UID, err)
	}
	return nil
}

func putSeries(ctx context.Context, tx pgx.Tx, se *index.Series) error {
	b, err := json.Marshal(se)
	if err != nil {
		return fmt.Errorf("encode series %s: %w", se.UID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO series (study, uid, row_json) VALUES ($1, $2, $3) ON CONFLICT (study, uid) DO UPDATE SET row_json = EXCLUDED.row_json`,
		se.Study, se.UID, b)
	if err != nil {
		return fmt.Errorf("put series %s: %w", se.UID, err)
	}
	return nil
}

func addTotals(ctx context.Context, tx pgx.Tx, d delta) error {
	if d == (delta{}) {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE totals SET studies = studies + $1, series = series + $2, instances = instances + $3 WHERE one = 1`,
		d.studies, d.series, d.instances)
	if err != nil {
		return fmt.Errorf("update totals: %w", err)
	}
	return nil
}

// studyKey is one row of study_keys.
type studyKey struct{ kind, val, ord string }

func keysOf(st *index.Study) []studyKey {
	if st == nil {
		return nil
	}
	ord := index.OrderOf(st).Order
	var out []studyKey
	for _, k := range index.KeysOf(st) {
		out = append(out, studyKey{string(k.Kind), k.Value, ord})
	}
	return out
}

// setKeys replaces the secondary keys of old (nil for a new study) by
// those of st (nil for a removed study).
func setKeys(ctx context.Context, tx pgx.Tx, old, st *index.Study) error {
	oldKeys, newKeys := keysOf(old), keysOf(st)
	var batch pgx.Batch
	for _, k := range oldKeys {
		if !slices.Contains(newKeys, k) {
			batch.Queue(`DELETE FROM study_keys WHERE kind = $1 AND val = $2 AND ord = $3`, k.kind, []byte(k.val), []byte(k.ord))
		}
	}
	uid := ""
	if st != nil {
		uid = st.UID
	}
	for _, k := range newKeys {
		if !slices.Contains(oldKeys, k) {
			batch.Queue(`INSERT INTO study_keys (kind, val, ord, uid) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, k.kind, []byte(k.val), []byte(k.ord), uid)
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("write study keys: %w", err)
	}
	return nil
}

// DeleteInstance removes an instance row and updates (or removes) its
// series and study rows.
func (db *DB) DeleteInstance(study, series, sop string) error {
	ctx, cancel := db.ctx()
	defer cancel()
	var seq uint64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		st, err := getStudy(ctx, tx, study, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM instances WHERE sop = $1 AND study = $2 AND series = $3`, sop, study, series)
		if err != nil {
			return fmt.Errorf("delete instance: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("instance %s: %w", sop, index.ErrNotFound)
		}
		if seq, err = db.nextSeq(ctx, tx); err != nil {
			return err
		}
		all, err := seriesOf(ctx, tx, study)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(s *index.Series) bool { return s.UID == series })
		if i < 0 {
			return fmt.Errorf("series %s: %w", series, index.ErrNotFound)
		}
		d := delta{instances: -1}
		newSt, newSe := *st, *all[i]
		newSe.Instances--
		newSe.Version = seq
		newSt.Instances--
		newSt.Version = seq
		if newSe.Instances == 0 {
			newSt.Series--
			d.series--
			// The study's modalities are those of the series that remain.
			newSt.Modalities = nil
			for _, other := range all {
				if m := other.Attrs.String("00080060"); other.UID != series && m != "" && !slices.Contains(newSt.Modalities, m) {
					newSt.Modalities = append(newSt.Modalities, m)
				}
			}
			slices.Sort(newSt.Modalities)
			if _, err := tx.Exec(ctx, `DELETE FROM series WHERE study = $1 AND uid = $2`, study, series); err != nil {
				return fmt.Errorf("delete series: %w", err)
			}
		} else if err := putSeries(ctx, tx, &newSe); err != nil {
			return err
		}
		if newSt.Instances == 0 {
			d.studies--
			if _, err := tx.Exec(ctx, `DELETE FROM studies WHERE uid = $1`, study); err != nil {
				return fmt.Errorf("delete study: %w", err)
			}
			if err := setKeys(ctx, tx, st, nil); err != nil {
				return err
			}
		} else {
			if err := updateStudy(ctx, tx, &newSt); err != nil {
				return err
			}
			if err := setKeys(ctx, tx, st, &newSt); err != nil {
				return err
			}
		}
		return addTotals(ctx, tx, d)
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", sop, err)
	}
	db.wrote(seq)
	return nil
}

// SetHolding records the holding institution of a stored study ("" for
// none known), which moves it to that KindHolding key.
func (db *DB) SetHolding(study, institution string) error {
	ctx, cancel := db.ctx()
	defer cancel()
	err := db.tx(ctx, func(tx pgx.Tx) error {
		st, err := getStudy(ctx, tx, study, true)
		if err != nil {
			return err
		}
		if st.Holding == institution {
			return nil
		}
		newSt := *st
		newSt.Holding = institution
		if err := updateStudy(ctx, tx, &newSt); err != nil {
			return err
		}
		return setKeys(ctx, tx, st, &newSt)
	})
	if err != nil {
		return fmt.Errorf("set holding of %s: %w", study, err)
	}
	return nil
}
