package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/s3"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// site is a gateway's data as the tests below see it: the index folder,
// the key file beside it and the object store, reopened between steps as
// a restarted gateway would.
type site struct {
	dir string
	obj storage.Store
}

func newSite(t *testing.T) *site {
	return &site{dir: t.TempDir(), obj: storagetest.NewMemory()}
}

func (s *site) keyFile() string { return filepath.Join(s.dir, "secrets", "audit-keys.json") }

func (s *site) openDB(t *testing.T) *index.DB {
	t.Helper()
	db, err := index.Open(index.Options{Dir: filepath.Join(s.dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func (s *site) open(t *testing.T) (*Log, *index.DB) {
	t.Helper()
	db := s.openDB(t)
	l, err := Open(db, s.obj, Options{KeyFile: s.keyFile()})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return l, db
}

// stop closes the log (which checkpoints) and the index.
func stop(t *testing.T, l *Log, db *index.DB) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func event(t *testing.T, db *index.DB, seq uint64) Event {
	t.Helper()
	b, err := db.GetRecord(kindEvents, seqID(seq))
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// reseal rewrites events from..to (renumbered from seq on) as an attacker
// without the key can: each linked to the previous one and sealed with
// sealFn, and moves the head to the last.
func reseal(t *testing.T, db *index.DB, events []Event, firstSeq uint64, prev string, sealFn func(e Event) ([]byte, string)) {
	t.Helper()
	seq := firstSeq
	for _, e := range events {
		e.Seq, e.Prev = seq, prev
		b, h := sealFn(e)
		if err := db.PutRecord(kindEvents, seqID(seq), b); err != nil {
			t.Fatal(err)
		}
		prev = h
		seq++
	}
	hb, _ := json.Marshal(map[string]any{"seq": seq - 1, "hash": prev})
	if err := db.PutRecord(kindMeta, kindHead, hb); err != nil {
		t.Fatal(err)
	}
}

// plainSeal is the unkeyed SHA-256 seal of gateways before keying.
func plainSeal(e Event) ([]byte, string) {
	e.Key, e.Hash = "", ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	out, _ := json.Marshal(e)
	return out, e.Hash
}

// guessedKeySeal seals with the event's key id but a secret the attacker
// made up (they cannot read the key file).
func guessedKeySeal(l *Log) func(e Event) ([]byte, string) {
	secret := make([]byte, 32)
	rand.Read(secret)
	forged := &Keyring{keys: map[string]*Key{l.keys.currentID(): {ID: l.keys.currentID(), Secret: secret}}, current: l.keys.currentID()}
	fake := &Log{keys: forged}
	return func(e Event) ([]byte, string) {
		e.Key = forged.current
		b, h, _ := fake.seal(e)
		return b, h
	}
}

// TestVerifyDetectsTamperingOnDisk writes a trail through a real on-disk
// Badger with a checkpoint in object storage, stops, edits the index with
// the index package as someone without the key file would, reopens as a
// restarted gateway and runs Verify.
func TestVerifyDetectsTamperingOnDisk(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, s *site, l *Log, db *index.DB)
		want   string // "" for a chain that verifies
	}{
		{"intact", func(*testing.T, *site, *Log, *index.DB) {}, ""},
		{"edited", func(t *testing.T, _ *site, _ *Log, db *index.DB) {
			b, _ := db.GetRecord(kindEvents, seqID(5))
			db.PutRecord(kindEvents, seqID(5), bytes.Replace(b, []byte(`"outcome":200`), []byte(`"outcome":403`), 1))
		}, "does not match its MAC"},
		{"tail truncated and head moved back", func(t *testing.T, _ *site, _ *Log, db *index.DB) {
			// Events 11..20 deleted, the head set to event 10: the chain
			// itself is consistent, the checkpoint at 20 contradicts it.
			for seq := uint64(11); seq <= 20; seq++ {
				db.DeleteRecord(kindEvents, seqID(seq))
			}
			hb, _ := json.Marshal(map[string]any{"seq": 10, "hash": event(t, db, 10).Hash})
			db.PutRecord(kindMeta, kindHead, hb)
		}, "tail truncated"},
		{"chain rewritten without a MAC", func(t *testing.T, _ *site, _ *Log, db *index.DB) {
			var evs []Event
			for seq := uint64(1); seq <= 20; seq++ {
				e := event(t, db, seq)
				e.Actor = "someone else"
				evs = append(evs, e)
			}
			reseal(t, db, evs, 1, "", plainSeal)
		}, "has no MAC"},
		{"chain rewritten with a guessed key", func(t *testing.T, _ *site, l *Log, db *index.DB) {
			var evs []Event
			for seq := uint64(1); seq <= 20; seq++ {
				e := event(t, db, seq)
				e.Outcome = 403
				evs = append(evs, e)
			}
			reseal(t, db, evs, 1, "", guessedKeySeal(l))
		}, "does not match its MAC"},
		{"deleted in the middle and renumbered", func(t *testing.T, _ *site, l *Log, db *index.DB) {
			// Event 7 removed, 8..20 renumbered 7..19 and relinked.
			var evs []Event
			for seq := uint64(8); seq <= 20; seq++ {
				evs = append(evs, event(t, db, seq))
			}
			db.DeleteRecord(kindEvents, seqID(20))
			reseal(t, db, evs, 7, event(t, db, 6).Hash, guessedKeySeal(l))
		}, "event 7"},
		{"deleted in the middle and renumbered, links kept", func(t *testing.T, _ *site, l *Log, db *index.DB) {
			// The same, keeping each event's own MAC: the link breaks.
			for seq := uint64(8); seq <= 20; seq++ {
				e := event(t, db, seq)
				e.Seq = seq - 1
				b, _ := json.Marshal(e)
				db.PutRecord(kindEvents, seqID(seq-1), b)
			}
			db.DeleteRecord(kindEvents, seqID(20))
			hb, _ := json.Marshal(map[string]any{"seq": 19, "hash": event(t, db, 19).Hash})
			db.PutRecord(kindMeta, kindHead, hb)
		}, "event 7"},
		{"checkpoint forged", func(t *testing.T, s *site, _ *Log, db *index.DB) {
			cp := Checkpoint{Seq: 25, Hash: "00", Time: time.Now().UTC(), Key: "a00000000", MAC: "00"}
			b, _ := json.Marshal(cp)
			s.obj.Put(ctx, anchorKey(25), bytes.NewReader(b), int64(len(b)))
		}, "which the key file lacks"},
		{"checkpoint forged with the key id", func(t *testing.T, s *site, l *Log, db *index.DB) {
			cp := Checkpoint{Seq: 25, Hash: "00", Time: time.Now().UTC(), Key: l.keys.currentID(), MAC: strings.Repeat("0", 64)}
			b, _ := json.Marshal(cp)
			s.obj.Put(ctx, anchorKey(25), bytes.NewReader(b), int64(len(b)))
		}, "not authentic"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t)
			l, db := s.open(t)
			fill(t, l, 20)
			stop(t, l, db) // checkpoints the head (event 20)

			l, db = s.open(t)
			c.tamper(t, s, l, db)
			l.Close(ctx)
			db.Close()

			l, db = s.open(t)
			defer stop(t, l, db)
			n, err := l.Verify(ctx)
			if c.want == "" {
				if err != nil || n != 20 {
					t.Fatalf("intact chain: %d %v", n, err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a VerifyError mentioning %q", err, c.want)
			}
			t.Logf("detected: %v", err)
		})
	}
}

// TestTruncationAfterLastCheckpointIsUndetected pins down the limit stated
// in the package comment: events written after the last checkpoint can be
// truncated with the head, and Verify cannot tell.
func TestTruncationAfterLastCheckpointIsUndetected(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	l, db := s.open(t)
	fill(t, l, 10)
	if err := l.Anchor(ctx); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 5)
	l.Flush(ctx)
	// Stop without the checkpoint Close would write: a crash, or the
	// attacker's kill -9.
	l.cancel()
	db.Close()
	db = s.openDB(t)
	for seq := uint64(11); seq <= 15; seq++ {
		db.DeleteRecord(kindEvents, seqID(seq))
	}
	hb, _ := json.Marshal(map[string]any{"seq": 10, "hash": event(t, db, 10).Hash})
	db.PutRecord(kindMeta, kindHead, hb)
	db.Close()
	l, db = s.open(t)
	defer stop(t, l, db)
	if n, err := l.Verify(ctx); err != nil || n != 10 {
		t.Fatalf("got %d %v; the documented limit changed: update the package comment", n, err)
	}
}

// TestKeyFileOutsideIndex checks the key file: created on first start with
// mode 0600, kept across restarts, and a rotation keeps old events valid.
func TestKeyFileOutsideIndex(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	l, db := s.open(t)
	fill(t, l, 3)
	fi, err := os.Stat(s.keyFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	first := l.keys.currentID()
	if _, err := l.keys.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 3)
	stop(t, l, db)
	l, db = s.open(t)
	defer stop(t, l, db)
	if n, err := l.Verify(ctx); err != nil || n != 6 {
		t.Fatalf("after rotation and restart: %d %v", n, err)
	}
	if e1, e6 := event(t, db, 1), event(t, db, 6); e1.Key != first || e6.Key == first {
		t.Fatalf("key ids %q and %q: want the first key, then the rotated one", e1.Key, e6.Key)
	}
}

// TestUnkeyedTrailStillVerifies upgrades a trail written by a gateway that
// did not key its chain: the old events verify, new ones are keyed, and an
// unkeyed event after the upgrade is refused.
func TestUnkeyedTrailStillVerifies(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	db := s.openDB(t)
	var evs []Event
	for i := 0; i < 4; i++ {
		evs = append(evs, Event{Time: time.Now().UTC(), Action: "GET /dicomweb/studies", Outcome: 200})
	}
	reseal(t, db, evs, 1, "", plainSeal)
	db.Close()

	l, db := s.open(t) // creates the key file: keyed from event 5
	fill(t, l, 3)
	if n, err := l.Verify(ctx); err != nil || n != 7 {
		t.Fatalf("upgraded trail: %d %v", n, err)
	}
	if e := event(t, db, 5); e.Key == "" {
		t.Fatal("event 5 was written without a MAC after the upgrade")
	}
	stop(t, l, db)
	db = s.openDB(t)
	reseal(t, db, []Event{event(t, db, 5), event(t, db, 6), event(t, db, 7)}, 5, event(t, db, 4).Hash, plainSeal)
	db.Close()
	l, db = s.open(t)
	defer stop(t, l, db)
	if _, err := l.Verify(ctx); err == nil || !strings.Contains(err.Error(), "has no MAC") {
		t.Fatalf("unkeyed events after the upgrade: %v", err)
	}
}

// TestCrashBetweenEventAndHead simulates what a crash between the two
// transactions of earlier gateways left (events stored, head not moved):
// reopening raises no false alarm, and later events never overwrite the
// stored ones.
func TestCrashBetweenEventAndHead(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	l, db := s.open(t)
	fill(t, l, 5)
	// Event 6, sealed and linked as the writer would, stored without its head.
	e := Event{Seq: 6, Time: time.Now().UTC(), Action: "GET /dicomweb/studies/:study", Study: "1.2.9", Outcome: 200, Prev: l.head, Key: l.keys.currentID()}
	orphan, _, err := l.seal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutRecord(kindEvents, seqID(6), orphan); err != nil {
		t.Fatal(err)
	}
	l.cancel() // crash: no Close, no head
	db.Close()

	l, db = s.open(t)
	defer stop(t, l, db)
	if n, err := l.Verify(ctx); err != nil || n != 6 {
		t.Fatalf("after the crash: %d %v (a false alarm)", n, err)
	}
	fill(t, l, 2)
	got, err := db.GetRecord(kindEvents, seqID(6))
	if err != nil || !bytes.Equal(got, orphan) {
		t.Fatalf("event 6 overwritten after the crash:\n%s\nwas\n%s", got, orphan)
	}
	if n, err := l.Verify(ctx); err != nil || n != 8 {
		t.Fatalf("after more events: %d %v", n, err)
	}
}

// TestEventFieldsBounded records a 200 KB path and control characters:
// the stored event holds them cut, with their length, and escaped.
func TestEventFieldsBounded(t *testing.T) {
	ctx := context.Background()
	l, _ := openLog(t)
	long := "GET /dicomweb/" + strings.Repeat("a", 200000)
	l.Record(Event{Action: long, Actor: "dr.li\r\nFAKE 200 admin", RequestID: "\x1b[31mred\x00", Detail: "张伟" + strings.Repeat("伟", 2000), Outcome: 401})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got Event
	l.Query(Filter{}, func(e Event) error { got = e; return nil })
	for _, c := range []struct{ name, got, want string }{
		{"action", got.Action[len(got.Action)-len("…(200014 bytes)"):], "…(200014 bytes)"},
		{"actor", got.Actor, `dr.li\x0d\x0aFAKE 200 admin`},
		{"request id", got.RequestID, `\x1b[31mred\x00`},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(got.Action) > maxAction || !strings.HasPrefix(got.Action, "GET /dicomweb/aaa") {
		t.Errorf("action of %d bytes: %.40q", len(got.Action), got.Action)
	}
	if len(got.Detail) > maxDetail || !strings.HasSuffix(got.Detail, "…(6006 bytes)") || !strings.HasPrefix(got.Detail, "张伟伟") {
		t.Errorf("detail of %d bytes ends %q", len(got.Detail), got.Detail[len(got.Detail)-20:])
	}
	if n, err := l.Verify(ctx); err != nil || n != 1 {
		t.Fatalf("verify: %d %v", n, err)
	}
}

// TestRefusedSummarised counts a flood of refused requests: one event per
// source, with the count.
func TestRefusedSummarised(t *testing.T) {
	ctx := context.Background()
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := Open(db, storagetest.NewMemory(), Options{SummaryEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 1000; i++ {
		l.Refused("203.0.113.7", now.Add(time.Duration(i)*time.Millisecond))
	}
	l.Refused("198.51.100.2", now)
	time.Sleep(200 * time.Millisecond) // a summary period passes
	l.Flush(ctx)
	var got []Event
	l.Query(Filter{}, func(e Event) error { got = append(got, e); return nil })
	if len(got) != 2 {
		t.Fatalf("%d events for 1001 refusals, want 2: %+v", len(got), got)
	}
	want := map[string]string{"203.0.113.7": "1000 requests refused from 203.0.113.7 in 999ms", "198.51.100.2": "1 requests refused from 198.51.100.2 in 0s"}
	for _, e := range got {
		if e.Action != ActionRefused || e.Outcome != 429 || e.Detail != want[e.Source] {
			t.Errorf("summary %+v", e)
		}
	}
	l.Close(ctx)
}

// TestCheckpointsUnderObjectLock runs the trail on a real MinIO bucket with
// object lock: checkpoints are written under retention, so that their
// versions cannot be deleted, and the trail verifies against them.
func TestCheckpointsUnderObjectLock(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	cfg := s3.Config{Endpoint: srv.Endpoint, Bucket: "audit-lock", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, ObjectLock: true}
	obj, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := Open(db, obj, Options{RetainFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 5)
	if err := l.Anchor(ctx); err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	oi, err := mc.StatObject(ctx, cfg.Bucket, anchorKey(5), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if oi.Metadata.Get("X-Amz-Object-Lock-Mode") != "COMPLIANCE" {
		t.Fatalf("checkpoint lock mode %q, want COMPLIANCE", oi.Metadata.Get("X-Amz-Object-Lock-Mode"))
	}
	if err := mc.RemoveObject(ctx, cfg.Bucket, oi.Key, minio.RemoveObjectOptions{VersionID: oi.VersionID, GovernanceBypass: true}); err == nil {
		t.Fatal("a locked checkpoint was deleted")
	}
	if n, err := l.Verify(ctx); err != nil || n != 5 {
		t.Fatalf("verify: %d %v", n, err)
	}
	l.Close(ctx)
}

// TestLostKeyFileIsNamed replaces the key file (lost, or swapped by someone
// who wants to re-sign): Verify says which key is missing.
func TestLostKeyFileIsNamed(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	l, db := s.open(t)
	fill(t, l, 3)
	stop(t, l, db)
	if err := os.Remove(s.keyFile()); err != nil {
		t.Fatal(err)
	}
	l, db = s.open(t)
	defer stop(t, l, db)
	if _, err := l.Verify(ctx); err == nil || !strings.Contains(err.Error(), "which the key file lacks") {
		t.Fatalf("verify with a new key file: %v", err)
	}
}
