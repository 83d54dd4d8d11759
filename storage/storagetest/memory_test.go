package storagetest_test

import (
	"testing"

	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/storagetest"
)

func TestMemory(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return storagetest.NewMemory() })
}

func BenchmarkPutGet(b *testing.B) {
	storagetest.Bench(b, storagetest.NewMemory())
}
