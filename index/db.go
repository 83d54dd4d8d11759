// Package index keeps the gateway's metadata in Badger: study, series and
// instance rows for QIDO-RS, the precomputed DICOM JSON metadata and frame
// tables for WADO-RS. It is derived data: everything in it can be rebuilt
// from object storage (see the reindex command).
//
// Nothing that grows with the archive is held in memory: rows are read
// from Badger on demand through bounded caches, and QIDO finds studies by
// secondary keys (secondary.go) in answer order.
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
	"sync/atomic"

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
	// CacheBytes bounds the memory of the caches of decoded rows
	// (instances, studies, series lists; half, a third and a sixth of it);
	// 0 means DefaultCacheBytes.
	CacheBytes int
	Logger     *slog.Logger
	// migrateChunk is the study rows one transaction of an upgrade reads
	// (migrateChunk the constant when 0; tests set fewer).
	migrateChunk int
}

// DB is the index.
type DB struct {
	bdb     *badger.DB
	log     *slog.Logger
	dir     string
	minFree int64
	chunk   int // Options.migrateChunk
	collect int // ScanMerged's collectMax (tests lower it)

	mu     sync.RWMutex // guards seq and counts; writers hold it across a commit
	seq    uint64
	counts counts

	// Caches of decoded rows, bounded: nothing in memory grows with the
	// archive, rows are read from Badger on demand.
	rows    *lru[*Instance] // instance rows by key
	studyC  *lru[*Study]    // study rows by UID
	seriesC *lru[[]*Series] // the series rows of a study, in SeriesOf order
	// gen counts study and series writes: a reader caches what it read
	// only if no writer came in between, or it could cache a stale row.
	gen atomic.Uint64

	cpMu sync.Mutex // serialises checkpoint writes
	cp   uint64     // last checkpoint written by this process
}

// counts are the archive's totals, stored under keyCounts and kept by
// every write, so that nothing counts rows at start or on a request.
type counts struct{ studies, series, instances int64 }

func (c counts) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.studies))
	b = binary.BigEndian.AppendUint64(b, uint64(c.series))
	return binary.BigEndian.AppendUint64(b, uint64(c.instances))
}

func decodeCounts(v []byte) counts {
	if len(v) != 24 {
		return counts{}
	}
	return counts{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:])), int64(binary.BigEndian.Uint64(v[16:]))}
}

// DefaultCacheBytes is the memory the index keeps decoded rows in unless
// Options.CacheBytes says: at 1 M instances the study cache (a third)
// then holds about 10,000 rows, the hot ones of the QIDO mix.
const DefaultCacheBytes = 64 << 20

// Badger's memory (see Open), about 30 MB of Go heap whatever the size of
// the archive, on top of the row caches (Options.CacheBytes):
//   - the block cache holds decompressed 4 KB blocks of the LSM tables
//     (Snappy, Badger's default, fixed for an index once written: Badger
//     reads every table with the options it is opened with); the tables
//     are memory-mapped too, so a miss costs a decompression (a few µs),
//     not a read, and the row caches above it catch the hot rows;
//   - no index cache: Badger uses it only for encrypted tables; the
//     tables' block indexes and Bloom filters are read in place from the
//     mapped files (page cache, counted as file-backed RSS);
//   - writes go to memtables of badgerMemTable bytes (a Go arena of about
//     1.2x that each, allocated when a memtable starts), at most
//     badgerMemtables of them before writers wait for a flush (a STOW of
//     a thousand small instances fills one);
//   - value log files are memory-mapped: smaller files map less (only
//     values over 64 KB go there);
//   - a compaction builds up to 8 or more tables at once, each in a buffer
//     of twice the table's size allocated up front: tables of one size at
//     every level (Badger doubles it per level by default, to 8 MB and
//     more at 1 M instances) keep that near 50 MB instead of 200 MB.
const (
	badgerBlockCache   = 16 << 20
	badgerMemTable     = 16 << 20
	badgerMemtables    = 3
	badgerValueLogFile = 64 << 20
)

// Open opens (or creates) the index. It reads no rows: start-up costs the
// same whatever the size of the archive, except once after an upgrade of
// the index format (see migrate).
func Open(opt Options) (*DB, error) {
	bo := badger.DefaultOptions(opt.Dir).
		WithInMemory(opt.Dir == "").
		WithSyncWrites(opt.SyncWrites).
		WithLogger(nil).
		WithNumVersionsToKeep(1).
		// Badger's own memory, bounded and small (its defaults are sized for
		// a database server: 256 MB of block cache, up to five 64 MB
		// memtables, 1 GB value log files). See the constants above.
		WithBlockCacheSize(badgerBlockCache).
		WithMemTableSize(badgerMemTable).
		WithNumMemtables(badgerMemtables).
		WithValueLogFileSize(badgerValueLogFile).
		WithNumCompactors(2)
	bo.TableSizeMultiplier = 1 // no With option; see the constants above
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
	n := opt.CacheBytes
	if n <= 0 {
		n = DefaultCacheBytes
	}
	if opt.migrateChunk <= 0 {
		opt.migrateChunk = migrateChunk
	}
	db := &DB{bdb: bdb, log: log, dir: opt.Dir, minFree: opt.MinFreeBytes, chunk: opt.migrateChunk, collect: collectMax,
		rows: newLRU(n/2, instanceSize), studyC: newLRU(n/3, studySize), seriesC: newLRU(n/6, seriesListSize)}
	if err := db.load(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) load() error {
	var format string
	err := db.bdb.View(func(txn *badger.Txn) error {
		for k, fn := range map[string]func(v []byte){
			keySeq: func(v []byte) {
				if len(v) == 8 {
					db.seq = binary.BigEndian.Uint64(v)
				}
			},
			keyCounts: func(v []byte) { db.counts = decodeCounts(v) },
			keyFormat: func(v []byte) { format = string(v) },
		} {
			item, err := txn.Get([]byte(k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("load %s: %w", k, err)
			}
			if err := item.Value(func(v []byte) error { fn(v); return nil }); err != nil {
				return fmt.Errorf("load %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if format != formatVersion {
		return db.migrate(format)
	}
	return nil
}

// migrate upgrades an index written by an older gateway (format "" or "1":
// study and series rows without secondary keys or stored counts; "2":
// without whole-name keys; "3": without holding keys; "4": without
// StudyDescription word keys; "5": study rows in JSON) by writing every
// secondary key and the counts from the study and series rows, in batches,
// with a progress log; study rows are rewritten in the binary encoding.
// Keys already there are written again (but from format 5, which has them
// all).
func (db *DB) migrate(from string) error {
	if from != "" && from != "1" && from != "2" && from != "3" && from != "4" && from != "5" {
		return fmt.Errorf("index format %q is newer than this gateway (%s): upgrade the gateway or run reindex", from, formatVersion)
	}
	var c counts
	// In chunks of migrateChunk studies, each read in its own transaction
	// and written before the next: one transaction over a million rows
	// held over a gigabyte while the batch wrote.
	n := 0
	var after []byte
	for {
		wb := db.bdb.NewWriteBatch()
		done := true
		err := db.bdb.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixStudy)})
			defer it.Close()
			it.Seek([]byte(prefixStudy))
			if after != nil {
				it.Seek(after)
				if it.ValidForPrefix([]byte(prefixStudy)) && bytes.Equal(it.Item().Key(), after) {
					it.Next()
				}
			}
			for i := 0; it.ValidForPrefix([]byte(prefixStudy)); it.Next() {
				if i++; i > db.chunk {
					done = false
					return nil
				}
				k := it.Item().KeyCopy(nil)
				after = k
				err := it.Item().Value(func(v []byte) error {
					var s Study
					if err := decodeStudy(v, &s); err != nil {
						return fmt.Errorf("decode %s: %w", k, err)
					}
					c.studies++
					c.instances += int64(s.Instances)
					if from != "5" {
						for _, sk := range secondaryKeys(&s) {
							if err := wb.Set(sk, nil); err != nil {
								return err
							}
						}
					}
					if v[0] == '{' {
						b, err := s.appendRow(nil)
						if err != nil {
							return fmt.Errorf("encode %s: %w", k, err)
						}
						if err := wb.Set(k, b); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				if n++; n%10000 == 0 {
					db.log.Info("index upgrade: secondary keys and study rows", "studies", n)
				}
			}
			return nil
		})
		if err == nil {
			err = wb.Flush()
		}
		wb.Cancel()
		if err != nil {
			return fmt.Errorf("upgrade index format %q to %s: %w", from, formatVersion, err)
		}
		if done {
			break
		}
	}
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixSeries)})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix([]byte(prefixSeries)); it.Next() {
			c.series++
		}
		return nil
	})
	if err == nil {
		err = wb.Set([]byte(keyCounts), c.encode())
	}
	if err == nil {
		err = wb.Set([]byte(keyFormat), []byte(formatVersion))
	}
	if err == nil {
		// Rows of older formats may not name their holder.
		err = wb.Delete([]byte(keyHoldingsMark))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("upgrade index format %q to %s: %w", from, formatVersion, err)
	}
	db.counts = c
	if n > 0 {
		db.log.Info("index upgraded", "from", from, "to", formatVersion, "studies", n)
	}
	return nil
}

// migrateChunk is how many study rows one transaction of an upgrade reads.
const migrateChunk = 5000

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

// Counts reports how many studies, series and instances are indexed (kept
// by every write, not counted).
func (db *DB) Counts() (studies, series, instances int) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return int(db.counts.studies), int(db.counts.series), int(db.counts.instances)
}

// CacheStat is what one cache of decoded rows holds and how it served.
type CacheStat struct {
	Name         string // "instance", "study" or "series"
	Hits, Misses uint64
	Rows, Bytes  int
}

// CacheStats reports the caches of decoded rows (for /metrics).
func (db *DB) CacheStats() []CacheStat {
	var out []CacheStat
	for _, c := range []struct {
		name  string
		stats func() (uint64, uint64, int, int)
	}{{"instance", db.rows.stats}, {"study", db.studyC.stats}, {"series", db.seriesC.stats}} {
		h, m, r, b := c.stats()
		out = append(out, CacheStat{Name: c.name, Hits: h, Misses: m, Rows: r, Bytes: b})
	}
	return out
}

// EachStudy calls fn for every study row in QIDO order (newest StudyDate
// and StudyTime first, then UID) until fn returns false. Rows are
// immutable: callers must not modify them.
func (db *DB) EachStudy(fn func(*Study) bool) error {
	var ferr error
	err := db.ScanOrder("", func(c Cursor) bool {
		st, err := db.Study(c.UID)
		if errors.Is(err, ErrNotFound) {
			return true // removed since the scan began
		}
		if err != nil {
			ferr = err
			return false
		}
		return fn(st)
	})
	if err == nil {
		err = ferr
	}
	return err
}

// Study returns one study row. Rows are immutable: callers must not
// modify them.
func (db *DB) Study(uid string) (*Study, error) {
	if st, ok := db.studyC.get(uid); ok {
		return st, nil
	}
	var st *Study
	g := db.gen.Load()
	err := db.bdb.View(func(txn *badger.Txn) (err error) {
		st, err = getStudy(txn, uid)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("study %s: %w", uid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get study %s: %w", uid, err)
	}
	db.studyC.putIf(uid, st, func() bool { return db.gen.Load() == g })
	return st, nil
}

// Studies returns the study rows of uids in their order, nil for each
// that is not indexed. Rows come from the cache or from Badger one by one
// (a read here costs no round trip).
func (db *DB) Studies(uids []string) ([]*Study, error) {
	out := make([]*Study, len(uids))
	for i, uid := range uids {
		st, err := db.Study(uid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func getStudy(txn *badger.Txn, uid string) (*Study, error) {
	item, err := txn.Get(studyKey(uid))
	if err != nil {
		return nil, err
	}
	var st Study
	if err := item.Value(func(v []byte) error { return decodeStudy(v, &st) }); err != nil {
		return nil, fmt.Errorf("decode study %s: %w", uid, err)
	}
	return &st, nil
}

// SeriesOf returns the series rows of a study ordered by SeriesNumber then
// UID. The slice is shared: callers must not modify it.
func (db *DB) SeriesOf(study string) []*Series {
	if out, ok := db.seriesC.get(study); ok {
		return out
	}
	var out []*Series
	g := db.gen.Load()
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(txn, []byte(prefixSeries+study+"/"), func(k, v []byte) error {
			var s Series
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			out = append(out, &s)
			return nil
		})
	})
	if err != nil {
		db.log.Error("read series rows", "study", study, "err", err)
		return nil
	}
	sortSeries(out)
	if out == nil {
		out = []*Series{}
	}
	db.seriesC.putIf(study, out, func() bool { return db.gen.Load() == g })
	return out
}

// SeriesOfStudies returns the series of each of studies, from the cache
// or Badger one study at a time (no round trip to save here).
func (db *DB) SeriesOfStudies(studies []string) (map[string][]*Series, error) {
	out := make(map[string][]*Series, len(studies))
	for _, st := range studies {
		if ss := db.SeriesOf(st); len(ss) > 0 {
			out[st] = ss
		}
	}
	return out, nil
}

func sortSeries(out []*Series) {
	sort.Slice(out, func(i, j int) bool {
		ni, _ := out[i].Attrs.Int("00200011")
		nj, _ := out[j].Attrs.Int("00200011")
		if ni != nj {
			return ni < nj
		}
		return out[i].UID < out[j].UID
	})
}

// OneSeries returns one series row.
func (db *DB) OneSeries(study, series string) (*Series, error) {
	for _, s := range db.SeriesOf(study) {
		if s.UID == series {
			return s, nil
		}
	}
	return nil, fmt.Errorf("series %s: %w", series, ErrNotFound)
}

// AllSeries calls fn for every series row, grouped by study in QIDO order,
// until fn returns false.
func (db *DB) AllSeries(fn func(*Study, *Series) bool) {
	_ = db.EachStudy(func(st *Study) bool {
		for _, se := range db.SeriesOf(st.UID) {
			if !fn(st, se) {
				return false
			}
		}
		return true
	})
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
