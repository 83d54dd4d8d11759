package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures OIDC/JWT bearer verification for real deployments.
type JWTConfig struct {
	Issuer   string
	Audience string
	// JWKSFile or JWKSURL provide the signing keys; the URL is refetched
	// every RefreshEvery (default 10 minutes).
	JWKSFile     string
	JWKSURL      string
	RefreshEvery time.Duration
	Skew         time.Duration
	// Claim names mapped to the principal (defaults: role, institution, sub).
	RoleClaim, InstitutionClaim, UserClaim string
}

// JWTVerifier verifies JWTs signed with RS256/384/512, PS256, ES256/384 or
// EdDSA against a JWKS.
type JWTVerifier struct {
	cfg    JWTConfig
	client *http.Client
	now    func() time.Time

	mu      sync.RWMutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

// NewJWTVerifier loads the key set once and returns a verifier.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		return nil, errors.New("jwt: a JWKS file or URL is required")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwt: issuer and audience are required")
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = 10 * time.Minute
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "role"
	}
	if cfg.InstitutionClaim == "" {
		cfg.InstitutionClaim = "institution"
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	v := &JWTVerifier{cfg: cfg, client: &http.Client{Timeout: 10 * time.Second}, now: time.Now}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *JWTVerifier) load(ctx context.Context) error {
	var raw []byte
	var err error
	if v.cfg.JWKSFile != "" {
		raw, err = os.ReadFile(v.cfg.JWKSFile)
	} else {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
		if err == nil {
			var resp *http.Response
			resp, err = v.client.Do(req)
			if err == nil {
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				} else {
					raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("jwt: load JWKS: %w", err)
	}
	keys, err := ParseJWKS(raw)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys, v.fetched = keys, v.now()
	v.mu.Unlock()
	return nil
}

// ParseJWKS reads RSA, EC (P-256, P-384) and OKP (Ed25519) public keys.
func ParseJWKS(raw []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kid, Kty, Crv, N, E, X, Y, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("jwt: JWKS is not JSON: %w", err)
	}
	b := func(s string) *big.Int {
		d, _ := base64.RawURLEncoding.DecodeString(s)
		return new(big.Int).SetBytes(d)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			if k.N == "" || k.E == "" {
				return nil, fmt.Errorf("jwt: RSA key %q lacks n or e", k.Kid)
			}
			keys[k.Kid] = &rsa.PublicKey{N: b(k.N), E: int(b(k.E).Int64())}
		case "EC":
			var c elliptic.Curve
			switch k.Crv {
			case "P-256":
				c = elliptic.P256()
			case "P-384":
				c = elliptic.P384()
			default:
				return nil, fmt.Errorf("jwt: EC key %q: curve %q not supported", k.Kid, k.Crv)
			}
			keys[k.Kid] = &ecdsa.PublicKey{Curve: c, X: b(k.X), Y: b(k.Y)}
		case "OKP":
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || k.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("jwt: OKP key %q is not an Ed25519 key", k.Kid)
			}
			keys[k.Kid] = ed25519.PublicKey(x)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("jwt: JWKS holds no usable signing key")
	}
	return keys, nil
}

func (v *JWTVerifier) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	stale := v.cfg.JWKSURL != "" && v.now().Sub(v.fetched) > v.cfg.RefreshEvery
	v.mu.RUnlock()
	if ok && !stale {
		return k, nil
	}
	if v.cfg.JWKSURL != "" {
		// Unknown kid or stale set: refetch once (keys rotate).
		if err := v.load(ctx); err == nil {
			v.mu.RLock()
			k, ok = v.keys[kid]
			v.mu.RUnlock()
		}
	}
	if !ok {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return k, nil
}

// Verify checks a JWT and maps its claims to a principal.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}),
		jwt.WithIssuer(v.cfg.Issuer), jwt.WithAudience(v.cfg.Audience),
		jwt.WithLeeway(v.cfg.Skew), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now),
	)
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: jwt: %v", ErrUnauthenticated, err)
	}
	str := func(name string) string { s, _ := claims[name].(string); return s }
	pr := Principal{Role: Role(str(v.cfg.RoleClaim)), Institution: str(v.cfg.InstitutionClaim), User: str(v.cfg.UserClaim),
		Issuer: v.cfg.Issuer, Subject: str("sub")}
	if !ValidRole(pr.Role) {
		return Principal{}, fmt.Errorf("%w: jwt: claim %q holds no known role", ErrUnauthenticated, v.cfg.RoleClaim)
	}
	if (pr.Role == RolePACS || pr.Role == RoleClinician) && pr.Institution == "" {
		return Principal{}, fmt.Errorf("%w: jwt: claim %q is empty for a %s", ErrUnauthenticated, v.cfg.InstitutionClaim, pr.Role)
	}
	return pr, nil
}
