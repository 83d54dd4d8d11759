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
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(recordKey(kind, id), v) }); err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	return nil
}

// CreateRecord stores a record only if none exists under kind/id; it
// returns ErrExists otherwise (for immutable records).
func (db *DB) CreateRecord(kind, id string, v []byte) error {
	err := db.bdb.Update(func(txn *badger.Txn) error {
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
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(recordKey(kind, id)) }); err != nil {
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

// PutRecords stores several records of one kind in one transaction (the
// audit trail writes its events in batches).
func (db *DB) PutRecords(kind string, ids []string, values [][]byte) error {
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	for i, id := range ids {
		if err := wb.Set(recordKey(kind, id), values[i]); err != nil {
			return fmt.Errorf("put records %s: %w", kind, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("put records %s: %w", kind, err)
	}
	return nil
}
