package archive_test

import (
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage/file"
)

// newArchive opens a folder store and an index under dir and returns the
// archive over them, spooling into spool; the index closes with the test.
func newArchive(t *testing.T, dir, spool string) (*archive.Service, *file.Store, *index.DB) {
	t.Helper()
	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return archive.New(store, db, archive.Options{TempDir: spool}), store, db
}
