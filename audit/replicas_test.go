package audit_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
	"github.com/imgcloud/gateway/storage"
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

// countingStore counts the audit exports written through it.
type countingStore struct {
	storage.Store
	mu      sync.Mutex
	exports int
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasPrefix(key, "audit/") {
		c.mu.Lock()
		c.exports++
		c.mu.Unlock()
	}
	return c.Store.Put(ctx, key, r, size)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exports
}

// TestExportOnOneReplica: with leases (an index shared by replicas), the
// periodic export runs on one gateway at a time, and moves to another when
// that one stops.
func TestExportOnOneReplica(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	url := srv.Database(t)
	mem := storagetest.NewMemory()
	keys := filepath.Join(t.TempDir(), "audit-keys.json")
	const every = 40 * time.Millisecond
	var logs []*audit.Log
	var stores []*countingStore
	for i := range 2 {
		db, err := postgres.Open(ctx, postgres.Options{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		holder := fmt.Sprintf("gw%d", i)
		cs := &countingStore{Store: mem}
		l, err := audit.Open(db, cs, audit.Options{KeyFile: keys, ExportEvery: every,
			Lease: func(name string, ttl time.Duration) (bool, error) { return db.Lease(name, holder, ttl) }})
		if err != nil {
			t.Fatal(err)
		}
		logs, stores = append(logs, l), append(stores, cs)
	}
	record := func(round int) {
		t.Helper()
		for i, l := range logs {
			l.Record(audit.Event{Action: "GET /dicomweb/studies", Actor: fmt.Sprintf("gw%d-%d", i, round), Outcome: 200})
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 8 {
		record(round)
		time.Sleep(every)
	}
	a, b := stores[0].count(), stores[1].count()
	if a+b == 0 || (a > 0 && b > 0) {
		t.Fatalf("exports by the two gateways: %d and %d; want them all by one", a, b)
	}
	holder := 0
	if b > 0 {
		holder = 1
	}
	// The holder stops; the other takes over once the lease (at least
	// 5 s) has run out.
	other := 1 - holder
	if err := logs[holder].Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := stores[other].count()
	deadline := time.Now().Add(15 * time.Second)
	for round := 8; time.Now().Before(deadline) && stores[other].count() == before; round++ {
		logs[other].Record(audit.Event{Action: "GET /dicomweb/studies", Actor: fmt.Sprintf("late-%d", round), Outcome: 200})
		if err := logs[other].Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(every)
	}
	if stores[other].count() == before {
		t.Fatal("the other gateway never took the export over")
	}
	if err := logs[other].Close(ctx); err != nil {
		t.Fatal(err)
	}
}
