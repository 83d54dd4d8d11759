package share

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// pinIterations of PBKDF2-SHA256 make each guess cost a few milliseconds;
// the real defence of a 4-digit PIN is the lock after three wrong ones.
const pinIterations = 100_000

// PINHash is a salted PBKDF2-SHA256 hash of a share's PIN; the PIN itself
// is never stored.
type PINHash struct {
	Salt       []byte `json:"salt"`
	Hash       []byte `json:"hash"`
	Iterations int    `json:"iterations"`
}

func hashPIN(pin string) (*PINHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("hash PIN: %w", err)
	}
	h, err := pbkdf2.Key(sha256.New, pin, salt, pinIterations, 32)
	if err != nil {
		return nil, fmt.Errorf("hash PIN: %w", err)
	}
	return &PINHash{Salt: salt, Hash: h, Iterations: pinIterations}, nil
}

// matches compares in constant time.
func (p *PINHash) matches(pin string) bool {
	h, err := pbkdf2.Key(sha256.New, pin, p.Salt, p.Iterations, len(p.Hash))
	return err == nil && subtle.ConstantTimeCompare(h, p.Hash) == 1
}

// newID returns 16 random bytes in hex: session nonces (and the ids of
// shares made before short links).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newShareID makes a share id of idLen random bytes (96 bits, 24 hex
// digits): the id a short link carries.
func newShareID() string {
	var b [idLen]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID accepts what newShareID makes, and the 32-digit ids of shares
// made before short links.
func validID(id string) bool {
	if len(id) != 2*idLen && len(id) != 2*legacyIDLen {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
