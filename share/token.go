package share

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Token kinds, kept inside the signed payload so that a share link can
// never be used as a session cookie, nor the other way round.
const (
	kindLink    = "s"
	kindSession = "c"
)

// maxTokenLen bounds what is parsed at all.
const maxTokenLen = 1024

// sigContext separates these signatures from any other use of the keys.
const sigContext = "imgcloud-share-v1:"

// claims is a token's signed payload. Short names keep share URLs (and
// their QR codes) small.
type claims struct {
	Kind    string `json:"t"`
	KeyID   string `json:"k"`
	Share   string `json:"i"`
	Study   string `json:"s"`
	Expires int64  `json:"e"` // Unix seconds
	Allow   string `json:"a"` // "v" view, "vd" view and download
	// Nonce makes each session token unique.
	Nonce string `json:"n,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict() // one encoding per token: no malleable variants

// encode signs c: base64url(payload) "." base64url(Ed25519 signature of
// sigContext + the encoded payload), under the signing key, whose id it
// puts in the payload.
func (k *Keyring) encode(c claims) string {
	kid, priv := k.signer()
	c.KeyID = kid
	raw, _ := json.Marshal(c) // claims always encode
	p := b64.EncodeToString(raw)
	return p + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(sigContext+p)))
}

// decode verifies a token of the given kind and returns its claims. Every
// failure before the signature is known good is ErrInvalidToken, with no
// detail for the caller to learn from; expiry is only reported for a
// genuine token.
func (k *Keyring) decode(tok, kind string, now time.Time) (claims, error) {
	var c claims
	if len(tok) > maxTokenLen {
		return c, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	p, s, ok := strings.Cut(tok, ".")
	if !ok || strings.Contains(s, ".") {
		return c, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	raw, err1 := b64.DecodeString(p)
	sig, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil {
		return c, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return claims{}, fmt.Errorf("%w: malformed payload", ErrInvalidToken)
	}
	if err := k.verify(c.KeyID, []byte(sigContext+p), sig); err != nil {
		return claims{}, err
	}
	if c.Kind != kind || c.Share == "" || c.Study == "" || (c.Allow != "v" && c.Allow != "vd") {
		return claims{}, fmt.Errorf("%w: wrong kind or incomplete", ErrInvalidToken)
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return c, fmt.Errorf("%w: since %s", ErrExpired, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

func allowCode(a Allow) string {
	if a.Download {
		return "vd"
	}
	return "v"
}
