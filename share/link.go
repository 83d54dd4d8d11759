package share

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Short links. A link is base64url(share id) "." base64url(key tag ||
// MAC): 16 + 1 + 20 characters for a 96-bit id, so that /s/{token} is 40
// characters and fits an SMS. It carries no study, patient or expiry: the
// share record holds them. The MAC is HMAC-SHA256, truncated to 96 bits,
// over linkContext and the id, under a MAC key derived from the share key
// named by the tag; it is checked in constant time before the record is
// looked up, so a guessed link costs no storage read.
const (
	linkContext = "imgcloud-share-link-v2:"
	// macKeyContext derives the link MAC key from a key's Ed25519 seed,
	// so that one secret never serves two algorithms directly.
	macKeyContext = "imgcloud-share-link-mac-key-v1"
	tagLen        = 3  // bytes of SHA-256(key id): 4 characters
	macLen        = 12 // bytes of HMAC-SHA256: 96 bits
	idLen         = 12 // bytes of a new share id: 96 bits
	// legacyIDLen is the id length of shares made before short links
	// (32 hex digits); their links are short too, 6 characters longer.
	legacyIDLen = 16
)

// isShortLink says whether tok has the form of a short link rather than
// of a long signed token (made before short links).
func isShortLink(tok string) bool {
	id, mac, ok := strings.Cut(tok, ".")
	return ok && len(mac) == b64.EncodedLen(tagLen+macLen) &&
		(len(id) == b64.EncodedLen(idLen) || len(id) == b64.EncodedLen(legacyIDLen))
}

func keyTag(kid string) []byte {
	h := sha256.Sum256([]byte(kid))
	return h[:tagLen]
}

func linkMAC(key *Key, id []byte) []byte {
	kh := hmac.New(sha256.New, key.Seed)
	kh.Write([]byte(macKeyContext))
	m := hmac.New(sha256.New, kh.Sum(nil))
	m.Write([]byte(linkContext))
	m.Write(id)
	return m.Sum(nil)[:macLen]
}

// encodeLink makes the short link of a share id (hex, as stored) under the
// signing key.
func (k *Keyring) encodeLink(shareID string) (string, error) {
	id, err := hex.DecodeString(shareID)
	if err != nil || (len(id) != idLen && len(id) != legacyIDLen) {
		return "", fmt.Errorf("%w: share id %q cannot make a short link", ErrInvalid, shareID)
	}
	k.mu.RLock()
	key := k.keys[k.signing]
	k.mu.RUnlock()
	return b64.EncodeToString(id) + "." + b64.EncodeToString(append(keyTag(key.ID), linkMAC(key, id)...)), nil
}

// decodeLink verifies a short link's MAC under any live key with its tag
// and returns the share id (hex). Every failure is ErrInvalidToken.
func (k *Keyring) decodeLink(tok string) (string, error) {
	p, s, _ := strings.Cut(tok, ".")
	id, err1 := b64.DecodeString(p)
	tm, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || len(tm) != tagLen+macLen {
		return "", fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, kid := range k.order {
		key := k.keys[kid]
		// Tags may collide (24 bits over a handful of keys): try each.
		if key.Retired != nil || !hmac.Equal(keyTag(kid), tm[:tagLen]) {
			continue
		}
		if hmac.Equal(linkMAC(key, id), tm[tagLen:]) {
			return hex.EncodeToString(id), nil
		}
	}
	return "", fmt.Errorf("%w: bad MAC or unknown or retired key", ErrInvalidToken)
}
