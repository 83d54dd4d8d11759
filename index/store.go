package index

import "time"

// Store is the index as its backends implement it: the embedded Badger DB
// of this package and index/postgres for several replicas (issue 21). One
// interface here, rather than one per consumer, because the archive alone
// needs nearly all of it (rows, the planner's key scans, the durability
// feed) and both backends must keep the same contract, which one suite
// (index/indextest) checks. Consumers that need a sliver (records,
// recognition, audit) define their own small interfaces.
//
// Rows returned are shared and immutable: callers must not modify them.
type Store interface {
	Rows
	Keys
	Feed
	Records
	// CacheStats reports the caches of decoded rows (for /metrics); a
	// backend without caches returns nil.
	CacheStats() []CacheStat
	// Close releases the index.
	Close() error
}

// Rows are the study, series and instance rows and their metadata.
type Rows interface {
	// PutInstance indexes a new instance and updates its series and
	// study rows in one transaction, or returns an *ExistsError (changing
	// nothing) when the SOP Instance UID is already indexed.
	PutInstance(n NewInstance) error
	// DeleteInstance removes an instance row and updates or removes its
	// series and study rows; ErrNotFound when there is none.
	DeleteInstance(study, series, sop string) error
	// SetHolding records the holding institution of a study ("" none).
	SetHolding(study, institution string) error
	// HoldingsMark returns the mark SetHoldingsMark left ("" none): that
	// of the last complete pass over the studies without a recorded holder
	// (recognition.IndexHoldings), which later starts skip.
	HoldingsMark() (string, error)
	// SetHoldingsMark records mark; "" asks for a new pass.
	SetHoldingsMark(mark string) error
	Study(uid string) (*Study, error)
	// Studies returns the rows of the studies of uids, in their order, nil
	// for each that is not indexed: the query planner reads a page of
	// candidates at once (one query on PostgreSQL, not one per study).
	Studies(uids []string) ([]*Study, error)
	// SeriesOf returns the series of a study by SeriesNumber, then UID.
	SeriesOf(study string) []*Series
	// SeriesOfStudies returns the series of each of studies (a page of a
	// search's candidates), each list as SeriesOf orders it; a study
	// without series has none in the map.
	SeriesOfStudies(studies []string) (map[string][]*Series, error)
	OneSeries(study, series string) (*Series, error)
	// Instances returns the instances of a study (series "") or series,
	// by series UID, InstanceNumber, then SOP Instance UID.
	Instances(study, series string) ([]*Instance, error)
	Instance(study, series, sop string) (*Instance, error)
	InstanceBySOP(sop string) (*Instance, error)
	// Metadata calls fn with the DICOM JSON of each instance of a study,
	// a series or one instance; ErrNotFound when there is none.
	Metadata(study, series, sop string, fn func(meta []byte) error) error
	// AllInstances calls fn for every instance row until fn returns false
	// or an error.
	AllInstances(fn func(*Instance) (bool, error)) error
	// Counts reports the numbers of studies, series and instances.
	Counts() (studies, series, instances int)
}

// Keys are the secondary keys of studies that the archive's planner scans
// (secondary.go defines their semantics).
type Keys interface {
	ScanKey(kind Kind, value string, exact bool, fn func(Cursor) bool) error
	ScanOrder(from string, fn func(Cursor) bool) error
	Estimate(kind Kind, value string, exact bool, max int) int
	// EstimateOrder counts the studies ScanOrder(from) visits before the
	// first whose DateTime is below to ("": none is), up to max: the
	// planner's measure of a StudyDate range.
	EstimateOrder(from, to string, max int) int
	ScanMerged(kind Kind, probes []Probe, maxValues int, fn func(Cursor) bool) (bool, error)
	ScanUnion(keys []Key, fn func(Cursor) bool) error
}

// Feed is what the write path's durability needs: the sequence of rows,
// the checkpoint up to which their objects are durable, and the sync.
type Feed interface {
	// Seq is the sequence number of the last row this index wrote.
	Seq() uint64
	SetCheckpoint(seq uint64) error
	Checkpoint() (uint64, error)
	// RowsAfter calls fn with the instance rows written after seq, in
	// order, skipping rows deleted since.
	RowsAfter(seq uint64, fn func(*Instance) error) error
	// Sync makes every write committed so far durable.
	Sync() error
}

// Records are domain records: JSON values by kind and id.
type Records interface {
	PutRecord(kind, id string, v []byte) error
	// CreateRecord returns an error wrapping ErrExists if kind/id exists.
	CreateRecord(kind, id string, v []byte) error
	// GetRecord returns ErrNotFound (wrapped) for a missing record.
	GetRecord(kind, id string) ([]byte, error)
	// DeleteRecord removes a record; a missing one is not an error.
	DeleteRecord(kind, id string) error
	// Records calls fn for each record of a kind in id order.
	Records(kind string, fn func(id string, v []byte) error) error
	// UpdateRecords stores every record fn sets, or none.
	UpdateRecords(fn func(set func(kind, id string, v []byte) error) error) error
	// WriteRecords is UpdateRecords with create too: creating a kind/id
	// that exists stores nothing and returns an error wrapping ErrExists.
	WriteRecords(fn func(set, create func(kind, id string, v []byte) error) error) error
	// UpdateRecord replaces kind/id by what fn makes of its value, with no
	// other update of it in between (across replicas too); fn may run more
	// than once. ErrNotFound (wrapped) when absent; fn's error stores
	// nothing.
	UpdateRecord(kind, id string, fn func(old []byte) ([]byte, error)) error
	// LastRecord returns the record of a kind with the greatest id (an
	// empty id when there is none).
	LastRecord(kind string) (id string, v []byte, err error)
	// CheckSpace returns an error when a write could fill the disk.
	CheckSpace() error
}

// Leaser is what an index shared by several gateways adds
// (index/postgres): leases of background work, so that it runs on one
// replica at a time. An index without it serves one process, which runs
// everything.
type Leaser interface {
	// Lease takes or renews name for holder for ttl and reports whether
	// holder has it.
	Lease(name, holder string, ttl time.Duration) (bool, error)
	// Release gives up holder's lease of name (nothing if another holds it).
	Release(name, holder string) error
	// Live counts the leases of names starting with prefix that have not
	// run out.
	Live(prefix string) (int, error)
}

var _ Store = (*DB)(nil)
