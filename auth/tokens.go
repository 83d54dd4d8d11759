package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imgcloud/gateway/records"
)

// Errors of authentication and token management (httpapi/respond maps
// them to 401, 403, 400 and 404).
var (
	// ErrUnauthenticated: no valid credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credentials do not allow the request.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: a token asked for does not fit its role.
	ErrInvalid = errors.New("invalid token request")
	// ErrNotFound: no token has that id.
	ErrNotFound = errors.New("no such token")
)

// Token is an API token as stored: only the SHA-256 of its secret is kept.
type Token struct {
	ID          string     `json:"id"`
	Hash        string     `json:"hash"`
	Role        Role       `json:"role"`
	Institution string     `json:"institution,omitempty"`
	User        string     `json:"user,omitempty"`
	PersonKey   string     `json:"person_key,omitempty"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
}

// RecordStore is what tokens are persisted in (records.Store).
type RecordStore interface {
	Put(ctx context.Context, kind, id string, v any) error
	Get(ctx context.Context, kind, id string, v any) error
	List(ctx context.Context, kind string, fn func(id string, raw []byte) error) error
}

const tokenKind = "tokens"

// Tokens manages API tokens ("gw_<id>_<secret>").
type Tokens struct {
	rec RecordStore
	now func() time.Time
}

// NewTokens returns a token manager over a record store.
func NewTokens(rec RecordStore, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{rec: rec, now: now}
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(b32.EncodeToString(b))
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool {
	switch r {
	case RolePACS, RoleClinician, RolePatient, RolePeer, RoleAdmin:
		return true
	}
	return false
}

// Create makes a token and returns it in clear text: this is the only time
// the secret exists outside the caller.
func (t *Tokens) Create(ctx context.Context, p Principal, ttl time.Duration) (string, *Token, error) {
	if !ValidRole(p.Role) {
		return "", nil, fmt.Errorf("%w: role %q: must be one of pacs, clinician, patient, peer, admin", ErrInvalid, p.Role)
	}
	if (p.Role == RolePACS || p.Role == RoleClinician) && p.Institution == "" {
		return "", nil, fmt.Errorf("%w: a %s token needs an institution", ErrInvalid, p.Role)
	}
	if p.Role == RolePatient && p.PersonKey == "" {
		return "", nil, fmt.Errorf("%w: a patient token needs a person key", ErrInvalid)
	}
	id, secret := randomString(5), randomString(20)
	tok := &Token{ID: id, Hash: hashSecret(secret), Role: p.Role, Institution: p.Institution, User: p.User,
		PersonKey: p.PersonKey, Created: t.now().UTC()}
	if ttl > 0 {
		exp := tok.Created.Add(ttl)
		tok.Expires = &exp
	}
	if err := t.rec.Put(ctx, tokenKind, id, tok); err != nil {
		return "", nil, fmt.Errorf("store token: %w", err)
	}
	return "gw_" + id + "_" + secret, tok, nil
}

// ImportOutcome says what Import did.
type ImportOutcome string

// Outcomes of Import.
const (
	// ImportInstalled: the id was new; the token is stored.
	ImportInstalled ImportOutcome = "installed"
	// ImportPresent: the same token (id, secret, role) is stored and live.
	ImportPresent ImportOutcome = "already installed"
	// ImportKept: the id is taken by a token with another secret or role,
	// or a revoked one; it was left as it is (an operator's setting never
	// overwrites a token nor brings a revoked one back).
	ImportKept ImportOutcome = "kept"
)

// Import stores a token whose clear text the operator chose (for
// GATEWAY_ADMIN_TOKEN in automation), only if its id is new. The text
// must look like a token. It returns what it did and the token stored
// under the id (the existing one when kept).
func (t *Tokens) Import(ctx context.Context, clear string, role Role, institution, user string) (ImportOutcome, *Token, error) {
	id, secret, ok := splitToken(clear)
	if !ok || len(secret) < 16 {
		return "", nil, fmt.Errorf("token must look like gw_<id>_<secret> with a secret of at least 16 characters")
	}
	var old Token
	err := t.rec.Get(ctx, tokenKind, id, &old)
	switch {
	case err == nil:
		same := subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(old.Hash)) == 1
		if same && old.Role == role && old.Revoked == nil {
			return ImportPresent, &old, nil
		}
		return ImportKept, &old, nil
	case !errors.Is(err, records.ErrNotFound):
		return "", nil, fmt.Errorf("read token %s: %w", id, err)
	}
	tok := &Token{ID: id, Hash: hashSecret(secret), Role: role, Institution: institution, User: user, Created: t.now().UTC()}
	if err := t.rec.Put(ctx, tokenKind, id, tok); err != nil {
		return "", nil, fmt.Errorf("store token %s: %w", id, err)
	}
	return ImportInstalled, tok, nil
}

func splitToken(s string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(s, "gw_")
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" || len(id) > 32 {
		return "", "", false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", "", false
		}
	}
	return id, secret, true
}

// IsAPIToken reports whether a bearer value has the API token form.
func IsAPIToken(s string) bool { _, _, ok := splitToken(s); return ok }

// Verify checks a bearer token in constant time and returns its principal.
func (t *Tokens) Verify(ctx context.Context, bearer string) (Principal, error) {
	id, secret, ok := splitToken(bearer)
	if !ok {
		return Principal{}, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	var tok Token
	if err := t.rec.Get(ctx, tokenKind, id, &tok); err != nil {
		// Same work as a found token, so timing does not tell ids apart.
		subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(hashSecret("")))
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(tok.Hash)) != 1 {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	now := t.now()
	if tok.Revoked != nil {
		return Principal{}, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	if tok.Expires != nil && now.After(*tok.Expires) {
		return Principal{}, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	return Principal{Role: tok.Role, Institution: tok.Institution, User: tok.User, PersonKey: tok.PersonKey, TokenID: tok.ID}, nil
}

// Revoke marks a token revoked; it stays listed for the audit trail.
func (t *Tokens) Revoke(ctx context.Context, id string) error {
	var tok Token
	if err := t.rec.Get(ctx, tokenKind, id, &tok); errors.Is(err, records.ErrNotFound) || errors.Is(err, records.ErrInvalid) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	} else if err != nil {
		return fmt.Errorf("revoke %s: %w", id, err)
	}
	now := t.now().UTC()
	tok.Revoked = &now
	return t.rec.Put(ctx, tokenKind, id, &tok)
}

// List returns every token (hashes only).
func (t *Tokens) List(ctx context.Context) ([]Token, error) {
	var out []Token
	err := t.rec.List(ctx, tokenKind, func(id string, raw []byte) error {
		var tok Token
		if err := json.Unmarshal(raw, &tok); err != nil {
			return fmt.Errorf("decode token %s: %w", id, err)
		}
		out = append(out, tok)
		return nil
	})
	return out, err
}

// Empty reports whether no token exists yet (first start).
func (t *Tokens) Empty(ctx context.Context) (bool, error) {
	empty := true
	err := t.rec.List(ctx, tokenKind, func(string, []byte) error { empty = false; return errStop })
	if errors.Is(err, errStop) {
		err = nil
	}
	return empty, err
}

var errStop = errors.New("stop")
