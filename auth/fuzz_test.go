package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/recordstest"
)

// FuzzVerify feeds arbitrary bearer strings to the API token and JWT
// verifiers: no panic, and nothing forged is ever accepted.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"gw_abcde_secretsecretsecret", "eyJhbGciOiJFZERTQSJ9.e30.AAAA", "a.b.c", "gw__", "gw_x_", ""} {
		f.Add(s)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	file := filepath.Join(f.TempDir(), "jwks.json")
	os.WriteFile(file, []byte(`{"keys":[{"kid":"k","kty":"OKP","crv":"Ed25519","x":"`+base64.RawURLEncoding.EncodeToString(pub)+`"}]}`), 0o600)
	v, err := NewJWTVerifier(context.Background(), JWTConfig{Issuer: "i", Audience: "a", JWKSFile: file})
	if err != nil {
		f.Fatal(err)
	}
	rec, _ := recordstest.New(f)
	toks := NewTokens(rec, nil)
	if _, _, err := toks.Create(context.Background(), Principal{Role: RoleAdmin}, 0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := v.Verify(context.Background(), s); err == nil {
			t.Fatalf("forged JWT accepted: %+v", p)
		}
		if p, err := toks.Verify(context.Background(), s); err == nil {
			t.Fatalf("forged API token accepted: %+v", p)
		}
	})
}
