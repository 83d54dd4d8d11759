package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Seq is the sequence number of the last row written.
func (db *DB) Seq() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.seq
}

// SetCheckpoint records that every row up to seq had its object made
// durable before the index was synced. It is itself durable at the next
// Sync; an older checkpoint only means more rows to check at start.
func (db *DB) SetCheckpoint(seq uint64) error {
	db.cpMu.Lock()
	defer db.cpMu.Unlock()
	if seq <= db.cp {
		return nil
	}
	// A blind write: concurrent commits are serialised by cpMu, and a
	// transaction that reads nothing cannot conflict.
	err := db.update(func(txn *badger.Txn) error {
		return txn.Set([]byte(keyCheckpoint), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	db.cp = seq
	return nil
}

// Checkpoint returns the last recorded checkpoint (0 if none).
func (db *DB) Checkpoint() (uint64, error) {
	var seq uint64
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyCheckpoint))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) == 8 {
				seq = binary.BigEndian.Uint64(v)
			}
			return nil
		})
	})
	return seq, err
}

// RowsAfter calls fn with the instance rows written after seq, in order.
// Rows deleted since are skipped. The feed is read a page at a time, so
// that memory does not grow with the rows after seq.
func (db *DB) RowsAfter(seq uint64, fn func(*Instance) error) error {
	from := feedKey(seq + 1)
	for {
		var refs []string
		err := db.bdb.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixFeed)})
			defer it.Close()
			for it.Seek(from); it.ValidForPrefix([]byte(prefixFeed)) && len(refs) < feedPage; it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				refs = append(refs, string(v))
				// The next page starts just after this key.
				from = append(it.Item().KeyCopy(nil), 0)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rows after %d: %w", seq, err)
		}
		for _, ref := range refs {
			parts := strings.SplitN(ref, "/", 3)
			if len(parts) != 3 {
				continue
			}
			in, err := db.Instance(parts[0], parts[1], parts[2])
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(refs) < feedPage {
			return nil
		}
	}
}

// feedPage is how many feed keys RowsAfter reads in one transaction.
const feedPage = 1000
