// Package index keeps the gateway's metadata in Badger: study, series and
// instance rows for QIDO-RS, the precomputed DICOM JSON metadata and frame
// tables for WADO-RS. It is derived data: everything in it can be rebuilt
// from object storage (see the reindex command).
//
// Study and series rows are also held in memory (they are small and QIDO
// reads them on every study search); instance rows and metadata are read
// from Badger by prefix.
package index

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/imgcloud/gateway/internal/diskspace"
)

// ErrNotFound is returned (wrapped) for a row that does not exist.
var ErrNotFound = errors.New("not found in index")

// ErrLocked is returned (wrapped) by Open when another process holds the
// index (Badger allows one).
var ErrLocked = errors.New("index locked by another process")

// Options configure Open.
type Options struct {
	// Dir is the Badger directory; empty means in memory (tests).
	Dir string
	// SyncWrites makes every commit fsync. When false, callers make writes
	// durable in groups with DB.Sync (the STOW path syncs once per request).
	SyncWrites bool
	// MinFreeBytes is the room every write leaves on Dir's volume: a write
	// that would find less fails with an error wrapping diskspace.ErrFull
	// before it reaches Badger, whose memory-mapped files would otherwise
	// kill the process (SIGBUS) on a full disk. 0 checks nothing.
	MinFreeBytes int64
	Logger       *slog.Logger
}

// DB is the index.
type DB struct {
	bdb     *badger.DB
	log     *slog.Logger
	dir     string
	minFree int64

	mu      sync.RWMutex // guards the maps and seq; writers hold it across a commit
	studies map[string]*Study
	series  map[string]map[string]*Series
	seq     uint64
	// sorted caches the study list in QIDO order; nil when stale.
	sorted []*Study

	rows *rowCache // decoded instance rows, most recently used

	cpMu sync.Mutex // serialises checkpoint writes
	cp   uint64     // last checkpoint written by this process
}

// Open opens (or creates) the index and loads study and series rows.
func Open(opt Options) (*DB, error) {
	bo := badger.DefaultOptions(opt.Dir).
		WithInMemory(opt.Dir == "").
		WithSyncWrites(opt.SyncWrites).
		WithLogger(nil).
		WithNumVersionsToKeep(1)
	if opt.Dir != "" {
		// Rows and compressed metadata (a few KB each) stay in the LSM
		// tree, which is memory-mapped and cached: reading them is then
		// no system call. Only unusual giants go to the value log.
		bo = bo.WithValueThreshold(64 << 10)
	}
	bdb, err := badger.Open(bo)
	if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
		return nil, fmt.Errorf("open index %q: %w", opt.Dir, ErrLocked) // Badger's error wraps nothing to test
	}
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", opt.Dir, err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{bdb: bdb, log: log, dir: opt.Dir, minFree: opt.MinFreeBytes, studies: map[string]*Study{}, series: map[string]map[string]*Series{}, rows: newRowCache(20000)}
	if err := db.load(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) load() error {
	return db.bdb.View(func(txn *badger.Txn) error {
		if item, err := txn.Get([]byte(keySeq)); err == nil {
			if err := item.Value(func(v []byte) error {
				if len(v) == 8 {
					db.seq = binary.BigEndian.Uint64(v)
				}
				return nil
			}); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("load seq: %w", err)
		}
		if err := scan(txn, []byte(prefixStudy), func(k, v []byte) error {
			var s Study
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			db.studies[s.UID] = &s
			return nil
		}); err != nil {
			return err
		}
		return scan(txn, []byte(prefixSeries), func(k, v []byte) error {
			var s Series
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			m := db.series[s.Study]
			if m == nil {
				m = map[string]*Series{}
				db.series[s.Study] = m
			}
			m[s.UID] = &s
			return nil
		})
	})
}

// CheckSpace returns an error wrapping diskspace.ErrFull while the index
// volume has less than Options.MinFreeBytes free: writers that also write
// elsewhere first (records, audit) call it before they start.
func (db *DB) CheckSpace() error {
	if db.dir == "" {
		return nil
	}
	return diskspace.Check(db.dir, db.minFree)
}

// update runs fn in a read-write transaction once the disk has room: every
// write of the index goes through it.
func (db *DB) update(fn func(txn *badger.Txn) error) error {
	if err := db.CheckSpace(); err != nil {
		return err
	}
	return db.bdb.Update(fn)
}

// scan calls fn for each key with prefix, in key order.
func scan(txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	// No prefetching: it starts a goroutine per item, and values up to the
	// value threshold (all rows and metadata) sit in the LSM tree anyway.
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		k := item.Key()
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// Sync makes every write committed so far durable.
func (db *DB) Sync() error {
	if err := db.bdb.Sync(); err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	return nil
}

// Close syncs and closes the index.
func (db *DB) Close() error {
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("close index: %w", err)
	}
	return nil
}

// Counts reports how many studies, series and instances are indexed.
func (db *DB) Counts() (studies, series, instances int) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, s := range db.studies {
		studies++
		series += s.Series
		instances += s.Instances
	}
	return
}

// Studies returns the study rows in QIDO order (newest StudyDate and
// StudyTime first, then UID). Rows are immutable: callers must not modify them.
func (db *DB) Studies() []*Study {
	db.mu.RLock()
	if s := db.sorted; s != nil {
		db.mu.RUnlock()
		return s
	}
	db.mu.RUnlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.sorted == nil {
		all := make([]*Study, 0, len(db.studies))
		for _, s := range db.studies {
			all = append(all, s)
		}
		sort.Slice(all, func(i, j int) bool { return studyLess(all[i], all[j]) })
		db.sorted = all
	}
	return db.sorted
}

func studyLess(a, b *Study) bool {
	da, db := a.Attrs.String("00080020")+a.Attrs.String("00080030"), b.Attrs.String("00080020")+b.Attrs.String("00080030")
	if da != db {
		return da > db
	}
	return a.UID < b.UID
}

// Study returns one study row.
func (db *DB) Study(uid string) (*Study, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, ok := db.studies[uid]
	if !ok {
		return nil, fmt.Errorf("study %s: %w", uid, ErrNotFound)
	}
	return s, nil
}

// SeriesOf returns the series rows of a study ordered by SeriesNumber then UID.
func (db *DB) SeriesOf(study string) []*Series {
	db.mu.RLock()
	m := db.series[study]
	out := make([]*Series, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	db.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		ni, _ := out[i].Attrs.Int("00200011")
		nj, _ := out[j].Attrs.Int("00200011")
		if ni != nj {
			return ni < nj
		}
		return out[i].UID < out[j].UID
	})
	return out
}

// OneSeries returns one series row.
func (db *DB) OneSeries(study, series string) (*Series, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, ok := db.series[study][series]
	if !ok {
		return nil, fmt.Errorf("series %s: %w", series, ErrNotFound)
	}
	return s, nil
}

// AllSeries calls fn for every series row, grouped by study in QIDO order,
// until fn returns false.
func (db *DB) AllSeries(fn func(*Study, *Series) bool) {
	for _, st := range db.Studies() {
		for _, se := range db.SeriesOf(st.UID) {
			if !fn(st, se) {
				return
			}
		}
	}
}

// Instances returns the instance rows under a study (series == "") or a
// series, ordered by InstanceNumber then UID.
func (db *DB) Instances(study, series string) ([]*Instance, error) {
	prefix := prefixInstance + study + "/"
	if series != "" {
		prefix += series + "/"
	}
	var out []*Instance
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(txn, []byte(prefix), func(k, v []byte) error {
			if in, ok := db.rows.get(string(k)); ok {
				out = append(out, in)
				return nil
			}
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			db.rows.put(string(k), &in)
			out = append(out, &in)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list instances %s: %w", prefix, err)
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

// AllInstances calls fn for every instance row in key order until fn
// returns false or an error.
func (db *DB) AllInstances(fn func(*Instance) (bool, error)) error {
	stop := errors.New("stop")
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(txn, []byte(prefixInstance), func(k, v []byte) error {
			var in Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			more, err := fn(&in)
			if err != nil {
				return err
			}
			if !more {
				return stop
			}
			return nil
		})
	})
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// InstanceBySOP finds an instance row by its SOP Instance UID alone.
func (db *DB) InstanceBySOP(sop string) (*Instance, error) {
	var in *Instance
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(sopKey(sop))
		if err != nil {
			return err
		}
		var path []byte
		if path, err = item.ValueCopy(nil); err != nil {
			return err
		}
		study, series, ok := bytes.Cut(path, []byte("/"))
		if !ok {
			return fmt.Errorf("corrupt sop row %s", sop)
		}
		in, err = getInstance(txn, string(study), string(series), sop)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("instance %s: %w", sop, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", sop, err)
	}
	return in, nil
}

// Instance returns one instance row. Rows are shared: callers must not
// modify them.
func (db *DB) Instance(study, series, sop string) (*Instance, error) {
	key := string(instanceKey(study, series, sop))
	if in, ok := db.rows.get(key); ok {
		return in, nil
	}
	var in *Instance
	err := db.bdb.View(func(txn *badger.Txn) (err error) {
		in, err = getInstance(txn, study, series, sop)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("instance %s: %w", sop, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", sop, err)
	}
	db.rows.put(key, in)
	return in, nil
}

func getInstance(txn *badger.Txn, study, series, sop string) (*Instance, error) {
	item, err := txn.Get(instanceKey(study, series, sop))
	if err != nil {
		return nil, err
	}
	var in Instance
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &in) })
	return &in, err
}

// Metadata calls fn with the stored DICOM JSON of each
// instance under the prefix: a study, a series, or one instance. It returns
// ErrNotFound when nothing matches.
func (db *DB) Metadata(study, series, sop string, fn func(meta []byte) error) error {
	prefix := prefixMeta + study + "/"
	if series != "" {
		prefix += series + "/"
		if sop != "" {
			prefix += sop
		}
	}
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(txn, []byte(prefix), func(k, v []byte) error {
			if sop != "" && len(k) != len(prefix) {
				return nil
			}
			n++
			return fn(v)
		})
	})
	if err != nil {
		return fmt.Errorf("read metadata %s: %w", prefix, err)
	}
	if n == 0 {
		return fmt.Errorf("metadata %s: %w", prefix, ErrNotFound)
	}
	return nil
}
