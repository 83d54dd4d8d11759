package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/imgcloud/gateway/internal/testutil/recordstest"
	"github.com/imgcloud/gateway/storage"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	rec, obj := recordstest.New(t)
	toks := NewTokens(rec, func() time.Time { return now })
	if empty, _ := toks.Empty(ctx); !empty {
		t.Fatal("new store not empty")
	}
	clear, tok, err := toks.Create(ctx, Principal{Role: RoleClinician, Institution: "bj-pumch", User: "dr.li"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	obj.List(ctx, "", func(oi storage.ObjectInfo) error {
		rc, _ := obj.Get(ctx, oi.Key, 0, -1)
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(raw), strings.Split(clear, "_")[2]) {
			t.Fatal("the token secret is stored in clear")
		}
		return nil
	})
	p, err := toks.Verify(ctx, clear)
	if err != nil || p.Role != RoleClinician || p.Institution != "bj-pumch" || p.TokenID != tok.ID || p.ID() != "token:"+tok.ID {
		t.Fatalf("verify: %+v %v", p, err)
	}
	last := "x"
	if strings.HasSuffix(clear, "x") {
		last = "y" // a tampered secret must differ (1 start in 62 ended in x)
	}
	for name, bad := range map[string]string{
		"tampered secret": clear[:len(clear)-1] + last,
		"unknown id":      "gw_zzzzz_" + strings.Split(clear, "_")[2],
		"malformed":       "Bearer abc",
		"empty":           "",
	} {
		if _, err := toks.Verify(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := toks.Verify(ctx, clear); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	clear2, tok2, _ := toks.Create(ctx, Principal{Role: RoleAdmin, User: "ops"}, 0)
	if err := toks.Revoke(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := toks.Verify(ctx, clear2); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked token: %v", err)
	}
	if _, _, err := toks.Create(ctx, Principal{Role: RolePACS}, 0); err == nil {
		t.Error("a PACS token without institution was created")
	}
	if _, _, err := toks.Create(ctx, Principal{Role: "root"}, 0); err == nil {
		t.Error("unknown role accepted")
	}
	if _, _, err := toks.Import(ctx, "gw_admin_short", RoleAdmin, "", ""); err == nil {
		t.Error("short imported secret accepted")
	}
}

func TestJWT(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	jwks := map[string]any{"keys": []map[string]string{
		{"kid": "r1", "kty": "RSA", "n": enc(rsaKey.N.Bytes()), "e": enc(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kid": "e1", "kty": "EC", "crv": "P-256", "x": enc(ecKey.X.FillBytes(make([]byte, 32))), "y": enc(ecKey.Y.FillBytes(make([]byte, 32)))},
		{"kid": "o1", "kty": "OKP", "crv": "Ed25519", "x": enc(edPub)},
	}}
	b, _ := json.Marshal(jwks)
	file := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(file, b, 0o600)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	v, err := NewJWTVerifier(context.Background(), JWTConfig{Issuer: "https://idp.example", Audience: "gateway", JWKSFile: file, Skew: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return now }
	sign := func(method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := jwt.MapClaims{"iss": "https://idp.example", "aud": "gateway", "sub": "dr.wang", "role": "clinician",
		"institution": "sh-zs", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	for name, tok := range map[string]string{
		"RS256": sign(jwt.SigningMethodRS256, "r1", rsaKey, good),
		"ES256": sign(jwt.SigningMethodES256, "e1", ecKey, good),
		"EdDSA": sign(jwt.SigningMethodEdDSA, "o1", edPriv, good),
	} {
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.Role != RoleClinician || p.Institution != "sh-zs" || p.User != "dr.wang" || p.ID() != "jwt:https://idp.example#dr.wang" {
			t.Errorf("%s: %+v (id %q) %v", name, p, p.ID(), err)
		}
	}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tok := range map[string]string{
		"expired":          sign(jwt.SigningMethodRS256, "r1", rsaKey, with("exp", now.Add(-time.Minute).Unix())),
		"wrong issuer":     sign(jwt.SigningMethodRS256, "r1", rsaKey, with("iss", "https://evil")),
		"wrong audience":   sign(jwt.SigningMethodRS256, "r1", rsaKey, with("aud", "other")),
		"no expiry":        sign(jwt.SigningMethodRS256, "r1", rsaKey, with("exp", nil)),
		"unknown role":     sign(jwt.SigningMethodRS256, "r1", rsaKey, with("role", "root")),
		"no institution":   sign(jwt.SigningMethodRS256, "r1", rsaKey, with("institution", nil)),
		"other key":        sign(jwt.SigningMethodRS256, "r1", other, good),
		"unknown kid":      sign(jwt.SigningMethodRS256, "zz", rsaKey, good),
		"HS256 confusion":  sign(jwt.SigningMethodHS256, "r1", []byte("secret"), good),
		"not a JWT at all": "abc.def.ghi",
	} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// Within the allowed skew an expired token still passes.
	if _, err := v.Verify(context.Background(), sign(jwt.SigningMethodRS256, "r1", rsaKey, with("exp", now.Add(-10*time.Second).Unix()))); err != nil {
		t.Errorf("within skew: %v", err)
	}
	// Credentials only come from the Authorization header.
	a := &Authenticator{JWT: v}
	r := httptest.NewRequest("GET", "/dicomweb/studies?access_token="+sign(jwt.SigningMethodRS256, "r1", rsaKey, good), nil)
	if _, err := a.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("token in URL accepted: %v", err)
	}
}
