package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// TestOneChainAcrossGateways: gateways writing one index at once (replicas
// on PostgreSQL; here also two logs on one Badger index) keep one chain:
// no event is written over another's, and the chain verifies through
// every one of them with every event.
func TestOneChainAcrossGateways(t *testing.T) {
	t.Run("badger", func(t *testing.T) {
		db, err := index.Open(index.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		oneChain(t, []audit.KV{db, db, db})
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		url := srv.Database(t)
		var kvs []audit.KV
		for range 3 {
			db, err := postgres.Open(context.Background(), postgres.Options{URL: url, MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			kvs = append(kvs, db)
		}
		oneChain(t, kvs)
	})
}

func oneChain(t *testing.T, kvs []audit.KV) {
	ctx := context.Background()
	obj := storagetest.NewMemory()
	keys := filepath.Join(t.TempDir(), "audit-keys.json") // one key file, as replicas must share
	var logs []*audit.Log
	for _, kv := range kvs {
		l, err := audit.Open(kv, obj, audit.Options{KeyFile: keys})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	const each = 60
	var wg sync.WaitGroup
	for i, l := range logs {
		wg.Go(func() {
			for n := range each {
				l.Record(audit.Event{Action: "GET /dicomweb/studies", Actor: fmt.Sprintf("gw%d-%d", i, n), Outcome: 200})
				if n%7 == 0 {
					if err := l.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
			}
			if err := l.Flush(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	actors := map[string]bool{}
	if err := logs[0].Query(audit.Filter{}, func(e audit.Event) error {
		if actors[e.Actor] {
			t.Errorf("event of %s stored twice", e.Actor)
		}
		actors[e.Actor] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := len(logs) * each; len(actors) != want {
		t.Errorf("%d events stored, want %d", len(actors), want)
	}
	for i, l := range logs {
		n, err := l.Verify(ctx)
		if err != nil || n != len(logs)*each {
			t.Errorf("verify through gateway %d: %d events, %v; want %d and no error", i, n, err, len(logs)*each)
		}
	}
	for _, l := range logs {
		if err := l.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}
