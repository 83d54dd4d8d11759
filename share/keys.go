package share

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/imgcloud/gateway/internal/secretfile"
)

// Key is one Ed25519 signing key of the keyring, as kept in the key file.
type Key struct {
	ID      string     `json:"id"`
	Seed    []byte     `json:"seed"` // ed25519 seed (32 bytes; base64 in the file)
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
}

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	ID      string     `json:"id"`
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
	Signing bool       `json:"signing"`
}

type keyFile struct {
	Signing string `json:"signing"`
	Keys    []*Key `json:"keys"`
}

// Keyring holds the keys that sign and verify share links and share
// sessions: one signing key and any number of verification keys, so that a
// key can be rotated without breaking live links (they stay valid until
// their key is retired). It lives in a file readable by its owner only
// (0600), not in object storage: whoever holds it can mint links.
type Keyring struct {
	path string
	now  func() time.Time

	mu      sync.RWMutex
	signing string
	keys    map[string]*Key
	order   []string
}

// LoadKeyring reads the key file at path, creating it with one fresh key
// on first start.
func LoadKeyring(path string, now func() time.Time) (*Keyring, error) {
	if now == nil {
		now = time.Now
	}
	k := &Keyring{path: path, now: now, keys: map[string]*Key{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := k.rotate(); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read share keys: %w", err)
	}
	if err := k.parse(b); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the key file again, for a gateway that shares it with
// other replicas: what another rotated or retired takes effect here.
func (k *Keyring) Reload() error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("read share keys: %w", err)
	}
	return k.parse(b)
}

// parse replaces the keys by those of the key file's content b.
func (k *Keyring) parse(b []byte) error {
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("share keys %s: %w", k.path, err)
	}
	keys, order := map[string]*Key{}, []string(nil)
	for _, key := range f.Keys {
		if len(key.Seed) != ed25519.SeedSize || key.ID == "" {
			return fmt.Errorf("share keys %s: key %q is not a 32-byte Ed25519 seed", k.path, key.ID)
		}
		keys[key.ID] = key
		order = append(order, key.ID)
	}
	if s := keys[f.Signing]; s == nil || s.Retired != nil {
		return fmt.Errorf("share keys %s: signing key %q is missing or retired", k.path, f.Signing)
	}
	k.mu.Lock()
	k.keys, k.order, k.signing = keys, order, f.Signing
	k.mu.Unlock()
	return nil
}

// Rotate creates a new signing key; earlier keys keep verifying.
func (k *Keyring) Rotate() (string, error) {
	return k.rotate()
}

func (k *Keyring) rotate() (string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", fmt.Errorf("new share key: %w", err)
	}
	var id [3]byte
	_, _ = rand.Read(id[:])
	key := &Key{ID: "k" + hex.EncodeToString(id[:]), Seed: seed, Created: k.now().UTC()}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys[key.ID] != nil {
		return "", errors.New("new share key: id collision, try again")
	}
	prevSigning := k.signing
	k.keys[key.ID] = key
	k.order = append(k.order, key.ID)
	k.signing = key.ID
	if err := k.save(); err != nil {
		delete(k.keys, key.ID)
		k.order = k.order[:len(k.order)-1]
		k.signing = prevSigning
		return "", err
	}
	return key.ID, nil
}

// Retire stops a key from verifying: links it signed stop working. The
// signing key cannot be retired (rotate first).
func (k *Keyring) Retire(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := k.keys[id]
	switch {
	case key == nil:
		return fmt.Errorf("%w: no key %q", ErrNotFound, id)
	case id == k.signing:
		return fmt.Errorf("%w: key %q signs new links; rotate before retiring it", ErrInvalid, id)
	case key.Retired != nil:
		return nil
	}
	t := k.now().UTC()
	key.Retired = &t
	if err := k.save(); err != nil {
		key.Retired = nil
		return err
	}
	return nil
}

// Keys lists the keys, oldest first, without their secrets.
func (k *Keyring) Keys() []KeyInfo {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KeyInfo, 0, len(k.order))
	for _, id := range k.order {
		key := k.keys[id]
		out = append(out, KeyInfo{ID: id, Created: key.Created, Retired: key.Retired, Signing: id == k.signing})
	}
	return out
}

// signer returns the signing key's id and private key.
func (k *Keyring) signer() (string, ed25519.PrivateKey) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.signing, ed25519.NewKeyFromSeed(k.keys[k.signing].Seed)
}

// verify checks sig with the key kid, which must not be retired.
func (k *Keyring) verify(kid string, msg, sig []byte) error {
	k.mu.RLock()
	key := k.keys[kid]
	k.mu.RUnlock()
	if key == nil || key.Retired != nil {
		return fmt.Errorf("%w: unknown or retired key id", ErrInvalidToken)
	}
	pub := ed25519.NewKeyFromSeed(key.Seed).Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	return nil
}

// save writes the key file atomically with mode 0600 (caller holds mu).
func (k *Keyring) save() error {
	f := keyFile{Signing: k.signing}
	for _, id := range k.order {
		f.Keys = append(f.Keys, k.keys[id])
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode share keys: %w", err)
	}
	if err := secretfile.Write(k.path, b); err != nil {
		return fmt.Errorf("share keys: %w", err)
	}
	return nil
}
