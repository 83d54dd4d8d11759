package index

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// WriteRecords runs fn in one transaction, like UpdateRecords, with create
// as well as set: a create of a kind/id that exists makes the whole
// transaction store nothing and return an error wrapping ErrExists. The
// audit trail appends its events so, which keeps one chain when several
// gateways write it (index/postgres).
func (db *DB) WriteRecords(fn func(set, create func(kind, id string, v []byte) error) error) error {
	err := db.update(func(txn *badger.Txn) error {
		set := func(kind, id string, v []byte) error { return txn.Set(recordKey(kind, id), v) }
		create := func(kind, id string, v []byte) error {
			if _, err := txn.Get(recordKey(kind, id)); err == nil {
				return fmt.Errorf("record %s/%s: %w", kind, id, ErrExists)
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			return txn.Set(recordKey(kind, id), v)
		}
		return fn(set, create)
	})
	if errors.Is(err, badger.ErrConflict) {
		// Another transaction wrote a record this one read: one it meant
		// to create (only creates read).
		err = fmt.Errorf("%w: %w", ErrExists, err)
	}
	if err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	return nil
}

// UpdateRecord replaces the record kind/id by what fn makes of its value,
// in one transaction that no other update of the record interleaves with
// (Badger detects the conflict and fn runs again on the new value). It
// returns an error wrapping ErrNotFound when there is no such record; an
// error from fn stores nothing and is returned.
func (db *DB) UpdateRecord(kind, id string, fn func(old []byte) ([]byte, error)) error {
	for attempt := 0; ; attempt++ {
		err := db.update(func(txn *badger.Txn) error {
			item, err := txn.Get(recordKey(kind, id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("record %s/%s: %w", kind, id, ErrNotFound)
			}
			if err != nil {
				return err
			}
			old, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			v, err := fn(old)
			if err != nil {
				return err
			}
			return txn.Set(recordKey(kind, id), v)
		})
		if errors.Is(err, badger.ErrConflict) && attempt < 100 {
			continue
		}
		if err != nil {
			return fmt.Errorf("update record %s/%s: %w", kind, id, err)
		}
		return nil
	}
}
