package records

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/index"
)

// CheckEvery is how often a Version reads its record: a change made
// through one gateway reaches the caches of the others within it (and the
// time of one reload).
const CheckEvery = 500 * time.Millisecond

// kindVersions holds the version records, in the index only: after a
// reindex a missing one reads as "", which reloads each cache once.
const kindVersions = "versions"

// Version keeps a cache of records that every gateway on one index holds
// in memory (consents, the recognition registry) in step with the others:
// each change writes a new random version (Bump), and each gateway reads
// it at most every CheckEvery (Check) and reloads its cache when another
// gateway wrote one since it last loaded. With one gateway per index no
// other writes it, so Check never reloads.
type Version struct {
	db   KV
	name string

	next atomic.Int64 // unix nanoseconds of the next read
	mu   sync.Mutex   // serialises reads and reloads
	// seen is the version the cache holds: "" at start, so that the first
	// check loads once more what changed before this gateway read it.
	seen string
}

// Version returns the version of the cache name (one per cache and
// process).
func (s *Store) Version(name string) *Version { return &Version{db: s.db, name: name} }

// Bump records a change of the cache's records, after they were written.
// When nobody else changed them since this gateway last loaded, its own
// cache, which the caller updated, stays current without a reload.
func (v *Version) Bump(ctx context.Context) error {
	var b [12]byte
	_, _ = rand.Read(b[:])
	next := hex.EncodeToString(b[:])
	v.mu.Lock()
	defer v.mu.Unlock()
	current := false
	err := v.db.UpdateRecord(kindVersions, v.name, func(old []byte) ([]byte, error) {
		current = string(old) == v.seen
		return []byte(next), nil
	})
	if errors.Is(err, index.ErrNotFound) {
		current = v.seen == ""
		err = v.db.CreateRecord(kindVersions, v.name, []byte(next))
		if errors.Is(err, index.ErrExists) {
			current = false // another wrote it first: load theirs at the next check
			err = v.db.PutRecord(kindVersions, v.name, []byte(next))
		}
	}
	if err != nil {
		return err
	}
	if current {
		v.seen = next
	}
	return nil
}

// Check calls reload when another gateway changed the records since the
// cache was loaded, reading the version at most every CheckEvery; callers
// on the read path call it before using the cache. A failed read or
// reload keeps the cache as it is, to be tried again at the next check.
func (v *Version) Check(ctx context.Context, reload func(ctx context.Context) error) {
	now := time.Now().UnixNano()
	if now < v.next.Load() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if now < v.next.Load() { // another caller checked meanwhile
		return
	}
	b, err := v.db.GetRecord(kindVersions, v.name)
	if errors.Is(err, index.ErrNotFound) {
		b, err = nil, nil
	}
	if err != nil {
		return
	}
	v.next.Store(time.Now().Add(CheckEvery).UnixNano())
	if string(b) == v.seen {
		return
	}
	if reload(ctx) == nil {
		v.seen = string(b)
	}
}
