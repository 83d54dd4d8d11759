package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/indextest"
	"github.com/imgcloud/gateway/index/postgres"
	"github.com/imgcloud/gateway/internal/testutil/pgtest"
)

// server is this test binary's PostgreSQL (nil, with serverErr, when it
// could not start).
var (
	server    *pgtest.Server
	serverErr error
)

func TestMain(m *testing.M) {
	var stop func()
	server, stop, serverErr = pgtest.StartMain()
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func open(t *testing.T) *postgres.DB {
	t.Helper()
	if serverErr != nil {
		pgtest.SkipOrFatal(t, serverErr)
	}
	db, err := postgres.Open(context.Background(), postgres.Options{URL: server.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestConformance runs the index suite on PostgreSQL.
func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Store { return open(t) })
}

// TestTwoHandlesOneDatabase: two indexes opened on one database at once
// (two replicas; the schema is migrated once) see each other's writes at
// once, and one instance stored through both is indexed once.
func TestTwoHandlesOneDatabase(t *testing.T) {
	if serverErr != nil {
		pgtest.SkipOrFatal(t, serverErr)
	}
	url := server.Database(t)
	dbs := make([]*postgres.DB, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(context.Background(), postgres.Options{URL: url, MaxConns: 4}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	a, b := dbs[0], dbs[1]
	put := func(db *postgres.DB, sop string) error {
		return db.PutInstance(index.NewInstance{
			Instance: &index.Instance{Study: "1.1", Series: "1.1.1", SOP: sop, Key: "k/" + sop},
			Meta:     []byte("{}"), Modality: "CT", Received: time.Now(),
		})
	}
	if err := put(a, "1.1.1.1"); err != nil {
		t.Fatal(err)
	}
	if in, err := b.InstanceBySOP("1.1.1.1"); err != nil || in.Key != "k/1.1.1.1" {
		t.Fatalf("the other handle: %+v, %v", in, err)
	}
	errs = make([]error, 2)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = put(db, "1.1.1.2") })
	}
	wg.Wait()
	var ex *index.ExistsError
	if !(errs[0] == nil && errors.As(errs[1], &ex) || errs[1] == nil && errors.As(errs[0], &ex)) {
		t.Fatalf("one instance through two handles: %v, %v; want one success and one ExistsError", errs[0], errs[1])
	}
	for _, db := range dbs {
		if s, se, in := db.Counts(); s != 1 || se != 1 || in != 2 {
			t.Errorf("counts %d %d %d, want 1 1 2", s, se, in)
		}
	}
	if b.Seq() <= 1 {
		t.Errorf("seq of the handle that wrote last: %d", b.Seq())
	}
	// A third open finds the schema in place and the sequence where it is.
	c, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Seq() < a.Seq() || c.Seq() < b.Seq() {
		t.Errorf("reopened seq %d, handles wrote up to %d and %d", c.Seq(), a.Seq(), b.Seq())
	}
}

// TestOpenErrorsHidePassword: a refused connection or a malformed URL
// never prints the password.
func TestOpenErrorsHidePassword(t *testing.T) {
	if serverErr != nil {
		pgtest.SkipOrFatal(t, serverErr)
	}
	good := server.Database(t)
	wrong := strings.Replace(good, server.Password, "s3cret-wrong", 1)
	for _, u := range []string{wrong, "postgres://u:s3cret-wrong@127.0.0.1:1/db?connect_timeout=2", "postgres://u:s3cret-wrong@[::1/db"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		db, err := postgres.Open(ctx, postgres.Options{URL: u})
		cancel()
		if err == nil {
			db.Close()
			t.Fatalf("open %s succeeded", postgres.Redact(u))
		}
		if strings.Contains(err.Error(), "s3cret-wrong") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if r := postgres.Redact(good); strings.Contains(r, server.Password) || !strings.Contains(r, "127.0.0.1") {
		t.Errorf("redacted %q", r)
	}
}

// TestLive counts the leases of a prefix that have not run out (the
// replicas alive).
func TestLive(t *testing.T) {
	db := open(t)
	defer db.Close()
	const ttl = 300 * time.Millisecond
	for _, name := range []string{"replica/a", "replica/b", "replicas-other", "audit-export"} {
		if ok, err := db.Lease(name, "h", ttl); err != nil || !ok {
			t.Fatalf("lease %s: %v %v", name, ok, err)
		}
	}
	if n, err := db.Live("replica/"); err != nil || n != 2 {
		t.Fatalf("live replicas: %d %v, want 2", n, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if n, err := db.Live("replica/"); err != nil || n != 0 {
		t.Fatalf("live replicas after the leases ran out: %d %v, want 0", n, err)
	}
}

// TestLease: one holder at a time; the holder renews; another takes the
// lease once it ran out unrenewed. (Also: the second migration applied.)
func TestLease(t *testing.T) {
	db := open(t)
	defer db.Close()
	const ttl = 300 * time.Millisecond
	lease := func(holder string) bool {
		t.Helper()
		ok, err := db.Lease("audit-export", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lease("a") || lease("b") || !lease("a") {
		t.Fatal("a takes and renews the lease, b does not get it")
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if !lease("b") {
		t.Fatal("b does not take a lease that ran out")
	}
	if lease("a") {
		t.Fatal("a took the lease back from b while b holds it")
	}
	if ok, err := db.Lease("other", "a", ttl); err != nil || !ok {
		t.Fatalf("another name is free: %v %v", ok, err)
	}
	if err := db.Release("audit-export", "a"); err != nil {
		t.Fatal(err)
	}
	if lease("a") {
		t.Fatal("a's release gave up b's lease")
	}
	if err := db.Release("audit-export", "b"); err != nil {
		t.Fatal(err)
	}
	if !lease("a") {
		t.Fatal("a does not get a released lease")
	}
}

// TestKeysRebuiltForNewLayout: a database whose study keys were computed
// with another key layout (an older gateway) gets them rebuilt at Open.
func TestKeysRebuiltForNewLayout(t *testing.T) {
	if serverErr != nil {
		pgtest.SkipOrFatal(t, serverErr)
	}
	url := server.Database(t)
	db, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	pid := dcm.Dataset{"00100020": &dcm.Element{VR: "LO", Value: []any{"P7"}}}
	if err := db.PutInstance(index.NewInstance{Instance: &index.Instance{Study: "1.7", Series: "1.7.1", SOP: "1.7.1.1"},
		Meta: []byte("{}"), StudyAttrs: pid, Modality: "CT"}); err != nil {
		t.Fatal(err)
	}
	// What a gateway of an older layout left: other keys, another format.
	if err := db.Exec(`DELETE FROM study_keys; UPDATE index_meta SET value = 'old' WHERE name = 'key_format'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	if err := db.ScanKey(index.KindPatientID, "P7", true, func(c index.Cursor) bool { got = append(got, c.UID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "1.7" {
		t.Fatalf("PatientID key after the rebuild: %v", got)
	}
}
