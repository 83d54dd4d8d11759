package share

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts the share reads, to show that a bad link costs none.
type countingStore struct {
	RecordStore
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, kind, id string, v any) error {
	c.gets.Add(1)
	return c.RecordStore.Get(ctx, kind, id, v)
}

func TestShortLinks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cs := &countingStore{RecordStore: f.rec}
	svc := New(cs, f.keys, Options{Now: func() time.Time { return f.now }})
	sh, tok, err := svc.Create(ctx, Request{Study: study, Lifetime: time.Hour, Allow: Allow{Download: true}})
	if err != nil {
		t.Fatal(err)
	}
	// "/s/" + token is 40 characters, after the host.
	if n := len("/s/" + tok); n > 40 {
		t.Errorf("link path %q is %d characters, want at most 40", "/s/"+tok, n)
	}
	// Nothing of the study, the expiry or the rights is in the link: not
	// in clear and not in any base64 of it.
	id, mac, _ := strings.Cut(tok, ".")
	for _, part := range []string{id, mac} {
		raw, err := b64.DecodeString(part)
		if err != nil {
			t.Fatalf("part %q: %v", part, err)
		}
		if strings.Contains(string(raw), study) || strings.Contains(string(raw), "1.2.826") {
			t.Errorf("link part %q carries the study", part)
		}
	}
	if strings.Contains(tok, study) || strings.Contains(tok, b64.EncodeToString([]byte(study))[:12]) {
		t.Errorf("link %q carries the study", tok)
	}
	got, err := svc.Check(ctx, tok)
	if err != nil || got.ID != sh.ID || got.Study != study || !got.Allow.Download {
		t.Fatalf("check: %+v %v", got, err)
	}
	if _, sess, err := svc.Open(ctx, tok, ""); err != nil || sess == nil {
		t.Fatalf("open: %v", err)
	}

	// Tampered links are refused before any record is read.
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] = "AB"[map[bool]int{true: 1}[b[i] == 'A']]
		return string(b)
	}
	before := cs.gets.Load()
	for name, bad := range map[string]string{
		"flipped MAC":   id + "." + flip(mac, len(mac)-1),
		"flipped tag":   id + "." + flip(mac, 0),
		"flipped id":    flip(id, 3) + "." + mac,
		"other id":      b64.EncodeToString(make([]byte, idLen)) + "." + mac,
		"short MAC":     id + "." + mac[:19] + "!",
		"swapped":       mac[:16] + "." + id + "AAAA",
		"non-base64":    id + "." + strings.Repeat("*", 20),
		"trailing junk": tok + "x",
	} {
		if _, err := svc.Check(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if n := cs.gets.Load() - before; n != 0 {
		t.Errorf("bad links read %d records, want none", n)
	}

	// A link whose MAC is good but whose share is gone is invalid (one read).
	ghost, _ := f.keys.encodeLink(strings.Repeat("ab", idLen))
	if _, err := svc.Check(ctx, ghost); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("no such share: %v", err)
	}

	// Expiry and revocation live in the record.
	f.now = sh.Expires
	if got, err := svc.Check(ctx, tok); !errors.Is(err, ErrExpired) || got == nil || got.ID != sh.ID {
		t.Errorf("expired: %v", err)
	}
	f.now = sh.Created
	if _, err := svc.Revoke(ctx, sh.ID, "admin:x"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Check(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked: %v", err)
	}
}

func TestShortLinkRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sh, old, err := f.svc.Create(ctx, Request{Study: study})
	if err != nil {
		t.Fatal(err)
	}
	oldKid, _ := f.keys.signer()
	if _, err := f.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh := f.svc.Token(sh)
	if fresh == old {
		t.Fatal("the link made after rotation is the same as before")
	}
	for name, tok := range map[string]string{"old key": old, "new key": fresh} {
		if _, err := f.svc.Check(ctx, tok); err != nil {
			t.Errorf("%s after rotation: %v", name, err)
		}
	}
	// A key of the same id on another gateway makes other MACs.
	other := newFixture(t)
	kid, _ := f.keys.signer()
	other.keys.keys[kid] = other.keys.keys[other.keys.signing]
	other.keys.keys[kid].ID = kid
	other.keys.signing = kid
	forged, _ := other.keys.encodeLink(sh.ID)
	if _, err := f.svc.Check(ctx, forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("another gateway's key: %v", err)
	}
	if err := f.keys.Retire(oldKid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Check(ctx, old); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("old key retired: %v, want ErrInvalidToken", err)
	}
	if _, err := f.svc.Check(ctx, fresh); err != nil {
		t.Errorf("new key after retiring the old: %v", err)
	}
}

// TestLongLinksStillWork: links in the long signed form, made before short
// links (and shares with the 32-digit ids of then), keep working until they
// expire; the same share's link is now short.
func TestLongLinksStillWork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sh := &Share{ID: newID(), Study: study, Created: f.now, Expires: f.now.Add(time.Hour).Truncate(time.Second)}
	if err := f.rec.Put(ctx, kind, sh.ID, sh); err != nil {
		t.Fatal(err)
	}
	long := f.keys.encode(claims{Kind: kindLink, Share: sh.ID, Study: sh.Study, Expires: sh.Expires.Unix(), Allow: allowCode(sh.Allow)})
	if len(long) < 100 {
		t.Fatalf("long token is %d characters", len(long))
	}
	if _, sess, err := f.svc.Open(ctx, long, ""); err != nil || sess == nil {
		t.Fatalf("long link: %v", err)
	}
	short := f.svc.Token(sh)
	if len("/s/"+short) > 46 {
		t.Errorf("short link of a 32-digit share is %d characters", len("/s/"+short))
	}
	if got, err := f.svc.Check(ctx, short); err != nil || got.ID != sh.ID {
		t.Errorf("short link of an old share: %v", err)
	}
	f.now = sh.Expires
	for _, tok := range []string{long, short} {
		if _, err := f.svc.Check(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Errorf("after expiry: %v, want ErrExpired", err)
		}
	}
}
