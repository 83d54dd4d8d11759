package share

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/testutil/recordstest"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
)

const study = "1.2.826.0.1.3680043.8.498.12345"

type fixture struct {
	svc  *Service
	keys *Keyring
	rec  *records.Store
	obj  storage.Store
	now  time.Time
	path string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	f.rec, f.obj = recordstest.New(t)
	f.path = filepath.Join(t.TempDir(), "secrets", "share-keys.json")
	clock := func() time.Time { return f.now }
	var err error
	if f.keys, err = LoadKeyring(f.path, clock); err != nil {
		t.Fatal(err)
	}
	f.svc = New(f.rec, f.keys, Options{Now: clock})
	return f
}

func TestKeyFile(t *testing.T) {
	f := newFixture(t)
	st, err := os.Stat(f.path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st.Mode(), err)
	}
	_, tok, err := f.svc.Create(context.Background(), Request{Study: study})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	// A restart reads the same keys: the old link still verifies.
	k2, err := LoadKeyring(f.path, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k2.Keys(), f.keys.Keys(); len(got) != 2 || got[1] != want[1] || !got[1].Signing {
		t.Fatalf("reloaded keys %+v, want %+v", got, want)
	}
	svc2 := New(f.rec, k2, Options{Now: func() time.Time { return f.now }})
	if _, err := svc2.Check(context.Background(), tok); err != nil {
		t.Errorf("old link after rotation and restart: %v", err)
	}
	raw, _ := os.ReadFile(f.path)
	if strings.Contains(string(raw), tok) {
		t.Error("key file holds a token")
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sh, tok, err := f.svc.Create(ctx, Request{Study: study, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 400 {
		t.Errorf("token is %d characters: QR codes get dense", len(tok))
	}
	if got, err := f.svc.Check(ctx, tok); err != nil || got.ID != sh.ID {
		t.Fatalf("check: %v", err)
	}
	// One second before the end it works, at the end and after it does not.
	f.now = sh.Expires.Add(-time.Second)
	if _, err := f.svc.Check(ctx, tok); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	for _, d := range []time.Duration{0, time.Second} {
		f.now = sh.Expires.Add(d)
		if _, err := f.svc.Check(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Errorf("expiry+%s: %v, want ErrExpired", d, err)
		}
	}
	// The long signed form of links made before short links: tampering
	// with it is refused too.
	f.now = sh.Created
	tok = f.keys.encode(claims{Kind: kindLink, Share: sh.ID, Study: sh.Study, Expires: sh.Expires.Unix(), Allow: allowCode(sh.Allow)})
	if _, err := f.svc.Check(ctx, tok); err != nil {
		t.Fatalf("long link: %v", err)
	}
	p, sig, _ := strings.Cut(tok, ".")
	for name, bad := range map[string]string{
		"empty":        "",
		"no dot":       p,
		"two dots":     tok + ".x",
		"bad base64":   p + ".!!!",
		"short sig":    p + "." + sig[:20],
		"huge":         strings.Repeat("a", 5000) + "." + sig,
		"swapped":      sig + "." + p,
		"extra field":  b64.EncodeToString([]byte(`{"t":"s","k":"x","i":"y","s":"1.2","e":9999999999,"a":"v","z":1}`)) + "." + sig,
		"not JSON":     b64.EncodeToString([]byte("hello")) + "." + sig,
		"session kind": f.keys.encode(claims{Kind: kindSession, Share: sh.ID, Study: study, Expires: sh.Expires.Unix(), Allow: "v"}),
	} {
		if _, err := f.svc.Check(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	// A token signed by another keyring (another gateway's key with the
	// same key id) is refused.
	other, err := LoadKeyring(filepath.Join(t.TempDir(), "k.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := f.keys.signer()
	other.keys[kid] = other.keys[other.signing]
	other.signing = kid
	forged := other.encode(claims{Kind: kindLink, Share: sh.ID, Study: study, Expires: sh.Expires.Unix(), Allow: "vd"})
	if _, err := f.svc.Check(ctx, forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged: %v", err)
	}
}

func TestOpenPINUsesSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sh, tok, err := f.svc.Create(ctx, Request{Study: study, PIN: "0428", MaxUses: 2, Allow: Allow{Download: true}})
	if err != nil {
		t.Fatal(err)
	}
	f.obj.List(ctx, "", func(oi storage.ObjectInfo) error {
		rc, _ := f.obj.Get(ctx, oi.Key, 0, -1)
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(raw), "0428") || strings.Contains(string(raw), tok) {
			t.Fatal("the PIN or the token is stored in clear")
		}
		return nil
	})
	if _, _, err := f.svc.Open(ctx, tok, ""); !errors.Is(err, ErrPINRequired) {
		t.Errorf("no PIN: %v", err)
	}
	_, sess, err := f.svc.Open(ctx, tok, "0428")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Expires != f.now.Add(30*time.Minute) {
		t.Errorf("session ends %s", sess.Expires)
	}
	g, err := f.svc.Session(ctx, sess.Value)
	if err != nil || g.Study != study || !g.Allow.Download || g.Share != sh.ID {
		t.Errorf("session: %+v %v", g, err)
	}
	if _, err := f.svc.Session(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("link used as a session: %v", err)
	}
	if _, err := f.svc.Check(ctx, sess.Value); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("session used as a link: %v", err)
	}
	// Three wrong PINs lock; the right one no longer opens.
	for i := 1; i <= 3; i++ {
		_, _, err := f.svc.Open(ctx, tok, "9999")
		if want := map[bool]error{true: ErrLocked, false: ErrWrongPIN}[i == 3]; !errors.Is(err, want) {
			t.Errorf("wrong PIN %d: %v, want %v", i, err, want)
		}
	}
	if _, _, err := f.svc.Open(ctx, tok, "0428"); !errors.Is(err, ErrLocked) {
		t.Errorf("after the lock: %v", err)
	}
	// Sessions already open survive a lock but not a revocation.
	if _, err := f.svc.Session(ctx, sess.Value); err != nil {
		t.Errorf("session after lock: %v", err)
	}
	if _, err := f.svc.Revoke(ctx, sh.ID, "admin:ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, sess.Value); !errors.Is(err, ErrRevoked) {
		t.Errorf("session after revocation: %v", err)
	}

	// Use limit.
	_, tok2, _ := f.svc.Create(ctx, Request{Study: study, MaxUses: 1})
	if _, _, err := f.svc.Open(ctx, tok2, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Open(ctx, tok2, ""); !errors.Is(err, ErrUsedUp) {
		t.Errorf("second open: %v", err)
	}
	// A session never outlives its link.
	sh3, tok3, _ := f.svc.Create(ctx, Request{Study: study, Lifetime: 10 * time.Minute})
	if _, s3, err := f.svc.Open(ctx, tok3, ""); err != nil || !s3.Expires.Equal(sh3.Expires) {
		t.Errorf("short link's session ends %v (%v), want %s", s3, err, sh3.Expires)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	for name, r := range map[string]Request{
		"bad UID":         {Study: "1.2.abc"},
		"too long":        {Study: study, Lifetime: 31 * 24 * time.Hour},
		"negative":        {Study: study, Lifetime: -time.Hour},
		"dead on arrival": {Study: study, Lifetime: 36 * time.Microsecond},
		"under 5 min":     {Study: study, Lifetime: 4*time.Minute + 59*time.Second},
		"short PIN":       {Study: study, PIN: "12"},
		"letters PIN":     {Study: study, PIN: "12ab"},
		"negative uses":   {Study: study, MaxUses: -1},
	} {
		if _, _, err := f.svc.Create(context.Background(), r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	sh, _, err := f.svc.Create(context.Background(), Request{Study: study})
	if err != nil || sh.Expires.Sub(sh.Created) != 72*time.Hour {
		t.Errorf("default lifetime: %v %v", sh, err)
	}
}
