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
	for range 3 {
		db, err := postgres.Open(ctx, postgres.Options{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
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
