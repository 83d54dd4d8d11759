package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/storagetest"
)

func openLog(t *testing.T) (*Log, *index.DB) {
	t.Helper()
	// On disk, as in production: the tampering below edits the stored rows.
	db, err := index.Open(index.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := Open(db, storagetest.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l, db
}

func fill(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		l.Record(Event{Action: "GET /dicomweb/studies/:study", Study: "1.2." + string(rune('0'+i%10)), PersonKey: "p" + string(rune('a'+i%3)), Outcome: 200})
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		tamper func(db *index.DB)
		want   string
	}{
		{"intact", func(*index.DB) {}, ""},
		{"edited", func(db *index.DB) {
			b, _ := db.GetRecord(kindEvents, seqID(5))
			db.PutRecord(kindEvents, seqID(5), bytes.Replace(b, []byte(`"outcome":200`), []byte(`"outcome":403`), 1))
		}, "edited"},
		{"deleted in the middle", func(db *index.DB) { db.DeleteRecord(kindEvents, seqID(7)) }, "missing"},
		{"tail deleted", func(db *index.DB) { db.DeleteRecord(kindEvents, seqID(20)) }, "deleted"},
		{"rehashed edit", func(db *index.DB) {
			// An attacker who recomputes the edited event's hash (a plain
			// SHA-256: they have no key) is caught at that event.
			b, _ := db.GetRecord(kindEvents, seqID(3))
			var e Event
			json.Unmarshal(b, &e)
			e.Actor, e.Key = "nobody", ""
			e.Hash = ""
			plain, _ := json.Marshal(e)
			sum := sha256.Sum256(plain)
			e.Hash = hex.EncodeToString(sum[:])
			nb, _ := json.Marshal(e)
			db.PutRecord(kindEvents, seqID(3), nb)
		}, "no MAC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, db := openLog(t)
			fill(t, l, 20)
			c.tamper(db)
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
			l.Close(ctx)
		})
	}
}

func TestQueryExportAndReopen(t *testing.T) {
	ctx := context.Background()
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	obj := storagetest.NewMemory()
	keyFile := filepath.Join(t.TempDir(), "audit-keys.json")
	l, _ := Open(db, obj, Options{ExportEvery: time.Hour, KeyFile: keyFile})
	fill(t, l, 9)
	var got []Event
	l.Query(Filter{PersonKey: "pb"}, func(e Event) error { got = append(got, e); return nil })
	if len(got) != 3 {
		t.Fatalf("person filter: %d events, want 3", len(got))
	}
	n, err := l.Export(ctx)
	if err != nil || n != 9 {
		t.Fatalf("export: %d %v", n, err)
	}
	var keys []string
	obj.List(ctx, "audit/", func(oi storage.ObjectInfo) error { keys = append(keys, oi.Key); return nil })
	if len(keys) != 1 || keys[0] != "audit/0000000000000001-0000000000000009.jsonl" {
		t.Fatalf("exported objects %v", keys)
	}
	if n, _ := l.Export(ctx); n != 0 {
		t.Fatalf("second export wrote %d events again", n)
	}
	l.Close(ctx)
	// The chain continues across a reopen.
	l2, _ := Open(db, obj, Options{KeyFile: keyFile})
	fill(t, l2, 2)
	if n, err := l2.Verify(ctx); err != nil || n != 11 {
		t.Fatalf("after reopen: %d %v", n, err)
	}
	l2.Close(ctx)
}

// TestSealEqualsTwoEncodings checks the one-encoding shortcut: the sealed
// bytes are what encoding the event with its MAC would give, and the MAC
// is the HMAC-SHA256, under the event's key, of the event encoded with an
// empty hash.
func TestSealEqualsTwoEncodings(t *testing.T) {
	l, _ := openLog(t)
	e := Event{Seq: 7, Time: time.Date(2026, 11, 26, 4, 5, 6, 789, time.UTC), Actor: "dr-<li>&", Study: "1.2.3",
		Action: "GET /dicomweb/studies/:study/metadata", Outcome: 200, Detail: "张伟 \"quoted\"", Key: l.keys.currentID(), Prev: "abc", Hash: "stale"}
	b, h, err := l.seal(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = ""
	plain, _ := json.Marshal(e)
	m := hmac.New(sha256.New, l.keys.keys[e.Key].Secret)
	m.Write(plain)
	if h != hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("hash %s, want the HMAC-SHA256 of %s", h, plain)
	}
	e.Hash = h
	want, _ := json.Marshal(e)
	if !bytes.Equal(b, want) {
		t.Fatalf("sealed\n%s\nwant\n%s", b, want)
	}
}
