package share

import (
	"path/filepath"
	"testing"
	"time"
)

// FuzzTokenDecode feeds arbitrary strings to the share-token verifier: no
// panic, nothing forged accepted, and a genuine token (the seed) decodes.
func FuzzTokenDecode(f *testing.F) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	k, err := LoadKeyring(filepath.Join(f.TempDir(), "keys.json"), func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	good := k.encode(claims{Kind: kindLink, Share: "sh-1", Study: "1.2.3", Expires: now.Add(time.Hour).Unix(), Allow: "v"})
	f.Add(good)
	f.Add(good[:len(good)-2] + "AA")
	f.Add("e30.AAAA")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.decode(tok, kindLink, now)
		if err != nil {
			return
		}
		if tok != good {
			t.Fatalf("forged token accepted: %+v", c)
		}
	})
}

// FuzzLinkDecode does the same for short links: only the genuine link
// verifies, whatever is flipped, cut or added.
func FuzzLinkDecode(f *testing.F) {
	k, err := LoadKeyring(filepath.Join(f.TempDir(), "keys.json"), nil)
	if err != nil {
		f.Fatal(err)
	}
	good, err := k.encodeLink(newShareID())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1] + "A")
	f.Add(good[:17] + good[21:] + good[17:21])
	f.Add(".")
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := k.decodeLink(tok); err == nil && tok != good {
			t.Fatalf("forged link accepted: %q", tok)
		}
	})
}
