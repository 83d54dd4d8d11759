package indextest_test

import (
	"testing"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/indextest"
)

// TestBadger runs the suite on the embedded index, on disk as serve
// opens it.
func TestBadger(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Store {
		db, err := index.Open(index.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
