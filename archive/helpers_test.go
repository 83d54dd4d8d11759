package archive_test

import (
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// newArchive returns an archive over a folder store and an index under
// dir, spooling into spool.
func newArchive(t *testing.T, dir, spool string) (*archive.Service, *file.Store, *index.DB) {
	t.Helper()
	store, db := gwtest.StoreAndIndex(t, dir)
	return archive.New(store, db, archive.Options{TempDir: spool, Visibility: archive.Unrestricted{}}), store, db
}
