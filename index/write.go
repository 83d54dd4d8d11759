package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/imgcloud/gateway/dcm"
)

// ErrExists is returned (wrapped in *ExistsError) when an instance with the
// same SOP Instance UID is already indexed.
var ErrExists = errors.New("instance already indexed")

// ExistsError carries the row already indexed under a SOP Instance UID.
type ExistsError struct{ Existing *Instance }

func (e *ExistsError) Error() string { return "instance " + e.Existing.SOP + " already indexed" }
func (e *ExistsError) Unwrap() error { return ErrExists }

// NewInstance is everything PutInstance records for one instance.
type NewInstance struct {
	Instance *Instance
	// Meta is the DICOM JSON of the instance (BasePlaceholder in URIs).
	Meta []byte
	// SeriesAttrs and StudyAttrs seed the series and study rows the first
	// time they are seen.
	SeriesAttrs, StudyAttrs dcm.Dataset
	Modality                string
	// Received is the time of arrival, recorded on a new study row.
	Received time.Time
}

// PutInstance indexes a new instance and updates its series and study rows
// in one transaction. If the SOP Instance UID is already indexed it changes
// nothing and returns an *ExistsError.
func (db *DB) PutInstance(n NewInstance) error {
	in := n.Instance
	db.mu.Lock()
	defer db.mu.Unlock()

	var existing *Instance
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(sopKey(in.SOP))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		path, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		study, series, _ := cutPath(string(path))
		existing, err = getInstance(txn, study, series, in.SOP)
		return err
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", in.SOP, err)
	}
	if existing != nil {
		return &ExistsError{Existing: existing}
	}

	st, err := db.Study(in.Study)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("index %s: %w", in.SOP, err)
	}
	se, err := db.OneSeries(in.Study, in.Series)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("index %s: %w", in.SOP, err)
	}

	db.seq++
	in.Seq = db.seq
	c := db.counts
	c.instances++

	newSt := &Study{UID: in.Study, Attrs: n.StudyAttrs, Received: n.Received.UTC()}
	if st != nil {
		cp := *st
		newSt = &cp
	} else {
		c.studies++
	}
	newSe := &Series{Study: in.Study, UID: in.Series, Attrs: n.SeriesAttrs}
	if se != nil {
		cp := *se
		newSe = &cp
	} else {
		newSt.Series++
		c.series++
	}
	newSe.Instances++
	newSe.Version = db.seq
	newSt.Instances++
	newSt.Version = db.seq
	if !n.Received.IsZero() && n.Received.Before(newSt.Received) {
		newSt.Received = n.Received.UTC() // reindex meets objects in key order, not arrival order
	}
	if n.Modality != "" && !slices.Contains(newSt.Modalities, n.Modality) {
		newSt.Modalities = append(slices.Clone(newSt.Modalities), n.Modality)
		slices.Sort(newSt.Modalities)
	}

	err = db.update(func(txn *badger.Txn) error {
		for _, kv := range []struct {
			k []byte
			v row
		}{
			{instanceKey(in.Study, in.Series, in.SOP), in},
			{seriesKey(in.Study, in.Series), newSe},
			{studyKey(in.Study), newSt},
		} {
			if err := setRow(txn, kv.k, kv.v); err != nil {
				return err
			}
		}
		if err := setSecondary(txn, st, newSt); err != nil {
			return err
		}
		if err := txn.Set(metaKey(in.Study, in.Series, in.SOP), n.Meta); err != nil {
			return err
		}
		if err := txn.Set(sopKey(in.SOP), []byte(in.Study+"/"+in.Series)); err != nil {
			return err
		}
		if err := txn.Set(feedKey(in.Seq), []byte(in.Study+"/"+in.Series+"/"+in.SOP)); err != nil {
			return err
		}
		if err := txn.Set([]byte(keyCounts), c.encode()); err != nil {
			return err
		}
		return txn.Set([]byte(keySeq), binary.BigEndian.AppendUint64(nil, db.seq))
	})
	if err != nil {
		db.seq--
		return fmt.Errorf("index %s: %w", in.SOP, err)
	}
	db.counts = c
	db.gen.Add(1)
	// Rows are immutable: the one just written is what a read would
	// decode, and the eligibility check reads the series' rows next.
	db.rows.put(string(instanceKey(in.Study, in.Series, in.SOP)), in)
	db.studyC.put(in.Study, newSt)
	db.putSeries(in.Study, newSe)
	return nil
}

// DeleteInstance removes an instance row and updates (or removes) its
// series and study rows. The caller deletes the object afterwards, so the
// index never lists an instance whose object is gone.
func (db *DB) DeleteInstance(study, series, sop string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	st, err := db.Study(study)
	if err != nil {
		return fmt.Errorf("delete %s: %w", sop, err)
	}
	se, err := db.OneSeries(study, series)
	if err != nil {
		return fmt.Errorf("delete %s: %w", sop, err)
	}
	db.seq++
	c := db.counts
	c.instances--
	newSt, newSe := *st, *se
	newSe.Instances--
	newSe.Version = db.seq
	newSt.Instances--
	newSt.Version = db.seq
	if newSe.Instances == 0 {
		newSt.Series--
		c.series--
		// The study's modalities are those of the series that remain.
		newSt.Modalities = nil
		for _, other := range db.SeriesOf(study) {
			if m := other.Attrs.String("00080060"); other.UID != series && m != "" && !slices.Contains(newSt.Modalities, m) {
				newSt.Modalities = append(newSt.Modalities, m)
			}
		}
		slices.Sort(newSt.Modalities)
	}
	if newSt.Instances == 0 {
		c.studies--
	}
	err = db.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(instanceKey(study, series, sop)); err != nil {
			return err
		}
		for _, k := range [][]byte{instanceKey(study, series, sop), metaKey(study, series, sop), sopKey(sop)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		if newSe.Instances == 0 {
			if err := txn.Delete(seriesKey(study, series)); err != nil {
				return err
			}
		} else if err := setRow(txn, seriesKey(study, series), &newSe); err != nil {
			return err
		}
		if newSt.Instances == 0 {
			if err := txn.Delete(studyKey(study)); err != nil {
				return err
			}
			if err := setSecondary(txn, st, nil); err != nil {
				return err
			}
		} else if err := setRow(txn, studyKey(study), &newSt); err != nil {
			return err
		} else if err := setSecondary(txn, st, &newSt); err != nil {
			return err
		}
		if err := txn.Set([]byte(keyCounts), c.encode()); err != nil {
			return err
		}
		return txn.Set([]byte(keySeq), binary.BigEndian.AppendUint64(nil, db.seq))
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		db.seq--
		return fmt.Errorf("delete %s: %w", sop, ErrNotFound)
	}
	if err != nil {
		db.seq--
		return fmt.Errorf("delete %s: %w", sop, err)
	}
	db.counts = c
	db.gen.Add(1)
	db.rows.remove(string(instanceKey(study, series, sop)))
	db.seriesC.remove(study)
	if newSt.Instances == 0 {
		db.studyC.remove(study)
	} else {
		db.studyC.put(study, &newSt)
	}
	return nil
}

// putSeries updates the cached series list of a study with a series row
// just written (the next instance of a STOW reads it again), or drops the
// list when it was not cached.
func (db *DB) putSeries(study string, se *Series) {
	old, ok := db.seriesC.get(study)
	if !ok {
		return
	}
	list := make([]*Series, 0, len(old)+1)
	for _, o := range old {
		if o.UID != se.UID {
			list = append(list, o)
		}
	}
	list = append(list, se)
	sortSeries(list)
	db.seriesC.put(study, list)
}

// row is an index row that encodes itself: instances and series as JSON
// (rowjson.go), studies in binary (rowbin.go).
type row interface {
	appendRow(b []byte) ([]byte, error)
}

func (in *Instance) appendRow(b []byte) ([]byte, error) { return in.appendJSON(b) }
func (s *Series) appendRow(b []byte) ([]byte, error)    { return s.appendJSON(b) }

func setRow(txn *badger.Txn, k []byte, v row) error {
	b, err := v.appendRow(nil)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return txn.Set(k, b)
}

func cutPath(p string) (study, series string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// SetHolding records the holding institution of a stored study ("" for
// none known), which moves it to that KindHolding key. The recognition
// service calls it when it records or moves a holder.
func (db *DB) SetHolding(study, institution string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	st, err := db.Study(study)
	if err != nil {
		return fmt.Errorf("set holding of %s: %w", study, err)
	}
	if st.Holding == institution {
		return nil
	}
	newSt := *st
	newSt.Holding = institution
	err = db.update(func(txn *badger.Txn) error {
		if err := setRow(txn, studyKey(study), &newSt); err != nil {
			return err
		}
		return setSecondary(txn, st, &newSt)
	})
	if err != nil {
		return fmt.Errorf("set holding of %s: %w", study, err)
	}
	db.gen.Add(1)
	db.studyC.put(study, &newSt)
	return nil
}

// keyHoldingsMark records that a pass over the studies without a recorded
// holder (recognition.IndexHoldings) ended, for the registry its value
// names: the pass reads one record per such study, and there may be a
// million of them until a registry records holders.
const keyHoldingsMark = "meta/holdings-indexed"

// HoldingsMark returns the mark the last complete holding pass left ("" if
// none, or if the index was upgraded or rebuilt since).
func (db *DB) HoldingsMark() (string, error) {
	var mark string
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyHoldingsMark))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		mark = string(v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read holdings mark: %w", err)
	}
	return mark, nil
}

// SetHoldingsMark records mark as that of a complete holding pass; ""
// asks for a new pass at the next start (rows whose holder the index may
// not know were written).
func (db *DB) SetHoldingsMark(mark string) error {
	err := db.update(func(txn *badger.Txn) error {
		if mark == "" {
			return txn.Delete([]byte(keyHoldingsMark))
		}
		return txn.Set([]byte(keyHoldingsMark), []byte(mark))
	})
	if err != nil {
		return fmt.Errorf("set holdings mark: %w", err)
	}
	return nil
}
