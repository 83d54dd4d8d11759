package index

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Domain records (institutions, catalogue items, decisions, consents, ...)
// live under rec/{kind}/{id}. Their source of truth is object storage; the
// records package writes both and rebuilds these keys on reindex.
const prefixRecord = "rec/"

func recordKey(kind, id string) []byte { return []byte(prefixRecord + kind + "/" + id) }

// PutRecord stores a record value, replacing any earlier one.
func (db *DB) PutRecord(kind, id string, v []byte) error {
	if err := db.update(func(txn *badger.Txn) error { return txn.Set(recordKey(kind, id), v) }); err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	return nil
}

// CreateRecord stores a record only if none exists under kind/id; it
// returns ErrExists otherwise (for immutable records).
func (db *DB) CreateRecord(kind, id string, v []byte) error {
	err := db.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(recordKey(kind, id)); err == nil {
			return ErrExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return txn.Set(recordKey(kind, id), v)
	})
	if err != nil {
		return fmt.Errorf("create record %s/%s: %w", kind, id, err)
	}
	return nil
}

// GetRecord returns a copy of a record value.
func (db *DB) GetRecord(kind, id string) ([]byte, error) {
	var out []byte
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(kind, id))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("record %s/%s: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s/%s: %w", kind, id, err)
	}
	return out, nil
}

// DeleteRecord removes a record; a missing one is not an error.
func (db *DB) DeleteRecord(kind, id string) error {
	if err := db.update(func(txn *badger.Txn) error { return txn.Delete(recordKey(kind, id)) }); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", kind, id, err)
	}
	return nil
}

// Records calls fn for every record of a kind in id order until fn
// returns an error.
func (db *DB) Records(kind string, fn func(id string, v []byte) error) error {
	prefix := []byte(prefixRecord + kind + "/")
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(txn, prefix, func(k, v []byte) error { return fn(string(k[len(prefix):]), v) })
	})
	if err != nil {
		return fmt.Errorf("list records %s: %w", kind, err)
	}
	return nil
}

// UpdateRecords runs fn in one transaction: every record it sets is
// stored, or none (the audit trail writes its events and its head so).
func (db *DB) UpdateRecords(fn func(set func(kind, id string, v []byte) error) error) error {
	err := db.update(func(txn *badger.Txn) error {
		return fn(func(kind, id string, v []byte) error { return txn.Set(recordKey(kind, id), v) })
	})
	if err != nil {
		return fmt.Errorf("update records: %w", err)
	}
	return nil
}

// LastRecord returns the record of a kind with the greatest id, or an
// empty id when the kind has none.
func (db *DB) LastRecord(kind string) (id string, v []byte, err error) {
	prefix := []byte(prefixRecord + kind + "/")
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		// Seek in reverse lands on the greatest key <= the seek key.
		it.Seek(append(append([]byte{}, prefix...), 0xff))
		if !it.ValidForPrefix(prefix) {
			return nil
		}
		id = string(it.Item().Key()[len(prefix):])
		v, err = it.Item().ValueCopy(nil)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("last record %s: %w", kind, err)
	}
	return id, v, nil
}
