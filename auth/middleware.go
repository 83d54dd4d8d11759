package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Verifier checks a bearer credential.
type Verifier interface {
	Verify(ctx context.Context, bearer string) (Principal, error)
}

// SessionFunc authenticates a request by other means than a bearer
// header, such as a share-link session cookie; ok is false when the
// request does not carry such a credential.
type SessionFunc func(r *http.Request) (p Principal, ok bool, err error)

// Authenticator turns a request's credentials into a principal. API
// tokens ("gw_...") go to Tokens, other bearers to JWT when configured.
// Credentials are read from the Authorization header only, never from the
// URL, where they would leak into logs and Referer headers.
type Authenticator struct {
	Tokens   Verifier
	JWT      Verifier
	Sessions []SessionFunc
}

// Authenticate returns the principal of r, or an error wrapping
// ErrUnauthenticated.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		for _, s := range a.Sessions {
			p, ok, err := s(r)
			if ok || err != nil {
				return p, err
			}
		}
		return Principal{}, fmt.Errorf("%w: no credentials: send Authorization: Bearer <token>", ErrUnauthenticated)
	}
	scheme, bearer, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		return Principal{}, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrUnauthenticated)
	}
	bearer = strings.TrimSpace(bearer)
	if IsAPIToken(bearer) {
		if a.Tokens == nil {
			return Principal{}, fmt.Errorf("%w: API tokens are not enabled", ErrUnauthenticated)
		}
		return a.Tokens.Verify(r.Context(), bearer)
	}
	if a.JWT == nil {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	return a.JWT.Verify(r.Context(), bearer)
}

// IsAuthError reports whether err is an authentication failure (401) as
// opposed to an authorisation one (403).
func IsAuthError(err error) bool { return errors.Is(err, ErrUnauthenticated) }
