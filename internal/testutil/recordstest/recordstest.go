// Package recordstest gives tests a real records.Store over an in-memory
// object store and an in-memory index, so packages that keep domain
// records are tested against the real thing rather than a map.
package recordstest

import (
	"testing"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// New returns a record store and the object store under it (to inspect
// what was written).
func New(t testing.TB) (*records.Store, storage.Store) {
	t.Helper()
	obj := storagetest.NewMemory()
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return records.New(obj, db), obj
}
