package share_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/share"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// gateways opens n connections to the index at url, one per gateway,
// closed with the test.
func gateways(t *testing.T, url string, n int) []*postgres.DB {
	t.Helper()
	var dbs []*postgres.DB
	for range n {
		db, err := postgres.Open(context.Background(), postgres.Options{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return dbs
}

// TestCountsAcrossReplicas: three share services (gateways) on one
// PostgreSQL index and one object store, with one key file, open the same
// links at once: a link of 2 uses opens exactly twice, and wrong PINs
// spread over them lock a link after the same count as on one gateway.
func TestCountsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	url := srv.Database(t)
	obj := storagetest.NewMemory()
	keyFile := filepath.Join(t.TempDir(), "share-keys.json")
	now := func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }
	var svcs []*share.Service
	for _, db := range gateways(t, url, 3) {
		keys, err := share.LoadKeyring(keyFile, now)
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, share.New(records.New(obj, index.Store(db)), keys, share.Options{Now: now}))
	}
	const study = "1.2.826.0.1.3680043.8.498.12345"

	_, tok, err := svcs[0].Create(ctx, share.Request{Study: study, MaxUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	results := openAll(t, svcs, tok, "", 9)
	if n := count(results, nil); n != 2 {
		t.Errorf("a link of 2 uses opened %d times over 3 gateways: %v", n, results)
	}
	if n := count(results, share.ErrUsedUp); n != 7 {
		t.Errorf("%d opens refused as used up, want 7: %v", n, results)
	}

	_, tok, err = svcs[1].Create(ctx, share.Request{Study: study, PIN: "2468"})
	if err != nil {
		t.Fatal(err)
	}
	results = openAll(t, svcs, tok, "1111", 9)
	if w, l := count(results, share.ErrWrongPIN), count(results, share.ErrLocked); w != 2 || l != 7 {
		t.Errorf("9 wrong PINs over 3 gateways: %d wrong, %d locked; want 2 and 7 (locked at the 3rd): %v", w, l, results)
	}
	if _, _, err := svcs[2].Open(ctx, tok, "2468"); !errors.Is(err, share.ErrLocked) {
		t.Errorf("the right PIN after the lock: %v, want ErrLocked", err)
	}
}

// openAll opens tok n times at once, spread over svcs.
func openAll(t *testing.T, svcs []*share.Service, tok, pin string, n int) []error {
	t.Helper()
	out := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, out[i] = svcs[i%len(svcs)].Open(context.Background(), tok, pin) })
	}
	wg.Wait()
	return out
}

// count counts the errors that are target (nil: successes).
func count(errs []error, target error) int {
	n := 0
	for _, err := range errs {
		if (target == nil && err == nil) || (target != nil && errors.Is(err, target)) {
			n++
		}
	}
	return n
}

// TestAddressFailuresAcrossReplicas: three gateways' counts of one
// address on one PostgreSQL index are one count: 10 failures at once
// spread over them block the address on all three, and the rate refills
// it for all; other addresses are untouched; a bucket full again is
// removed by the sweep.
func TestAddressFailuresAcrossReplicas(t *testing.T) {
	url := pgtest.Start(t).Database(t)
	var mu sync.Mutex
	clock := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	var fs []*share.AddressFailures
	dbs := gateways(t, url, 3)
	for _, db := range dbs {
		fs = append(fs, share.NewAddressFailures(db, 1, 10, now))
	}
	blocked := func(f *share.AddressFailures, addr string) bool {
		t.Helper()
		b, err := f.Blocked(addr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const addr = "203.0.113.7"
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Go(func() {
			if err := fs[i%3].Fail(addr); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, f := range fs {
		if blocked(f, addr) {
			t.Fatalf("9 failures of 10 block the address on replica %d", i)
		}
	}
	if err := fs[1].Fail(addr); err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		if !blocked(f, addr) {
			t.Errorf("10 failures over three replicas do not block the address on replica %d", i)
		}
	}
	if blocked(fs[0], "2001:db8::1") {
		t.Error("another address is blocked")
	}
	advance(time.Minute)
	if blocked(fs[2], addr) {
		t.Error("a minute later the address is still blocked (1 a minute)")
	}
	if err := fs[2].Fail(addr); err != nil {
		t.Fatal(err)
	}
	if !blocked(fs[0], addr) {
		t.Error("the failure a minute allowed, made through one replica, does not block it on another")
	}
	// Ten minutes refill the bucket: the next sweep (due every ten
	// minutes, run by a failure) removes it.
	advance(11 * time.Minute)
	if err := fs[0].Fail("198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := dbs[0].Records("share-failures", func(string, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the new address's)", n)
	}
}
