package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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

// Key is one HMAC-SHA256 key of the audit keyring, as kept in the key file.
type Key struct {
	ID      string    `json:"id"`
	Secret  []byte    `json:"secret"` // 32 bytes; base64 in the file
	Created time.Time `json:"created"`
}

type keyFile struct {
	Current string `json:"current"`
	// KeyedFrom is the first sequence number written with a key: every
	// event from it on must carry a MAC (events before it were written
	// by a gateway that did not key its chain).
	KeyedFrom uint64 `json:"keyed_from"`
	Keys      []*Key `json:"keys"`
}

// Keyring holds the keys that MAC audit events and checkpoints: one
// current key and the older ones, which keep verifying after a rotation.
// It lives in a file readable by its owner only (0600), outside the index
// and outside object storage: whoever holds it can forge the trail.
type Keyring struct {
	path string // "" for an in-memory keyring

	mu        sync.RWMutex
	current   string
	keyedFrom uint64
	keys      map[string]*Key
	order     []string
}

// loadKeyring reads the key file at path, creating it with one fresh key
// on first start; the chain is keyed from next on. An empty path gives a
// keyring kept in memory only (tests: the trail then verifies only in
// this process).
func loadKeyring(path string, next uint64, now time.Time) (*Keyring, error) {
	k := &Keyring{path: path, keys: map[string]*Key{}}
	var b []byte
	err := fs.ErrNotExist
	if path != "" {
		b, err = os.ReadFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		k.keyedFrom = next
		if _, err := k.Rotate(now); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit keys: %w", err)
	}
	if err := k.parse(b); err != nil {
		return nil, err
	}
	return k, nil
}

// parse replaces the keys by those of the key file's content b.
func (k *Keyring) parse(b []byte) error {
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("audit keys %s: %w", k.path, err)
	}
	keys, order := map[string]*Key{}, []string(nil)
	for _, key := range f.Keys {
		if len(key.Secret) != 32 || key.ID == "" {
			return fmt.Errorf("audit keys %s: key %q is not a 32-byte secret", k.path, key.ID)
		}
		keys[key.ID] = key
		order = append(order, key.ID)
	}
	if keys[f.Current] == nil {
		return fmt.Errorf("audit keys %s: current key %q is missing", k.path, f.Current)
	}
	k.mu.Lock()
	k.keys, k.order, k.current, k.keyedFrom = keys, order, f.Current, f.KeyedFrom
	k.mu.Unlock()
	return nil
}

// Rotate makes a new key current; events and checkpoints MAC'd with the
// earlier keys keep verifying. It returns the new key's id.
func (k *Keyring) Rotate(now time.Time) (string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("new audit key: %w", err)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	key := &Key{ID: "a" + hex.EncodeToString(id[:]), Secret: secret, Created: now.UTC()}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys[key.ID] != nil {
		return "", errors.New("new audit key: id collision, try again")
	}
	prev := k.current
	k.keys[key.ID], k.order, k.current = key, append(k.order, key.ID), key.ID
	if err := k.save(); err != nil {
		delete(k.keys, key.ID)
		k.order, k.current = k.order[:len(k.order)-1], prev
		return "", err
	}
	return key.ID, nil
}

// currentID returns the id of the key that MACs new events.
func (k *Keyring) currentID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// has reports whether the keyring holds key kid.
func (k *Keyring) has(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[kid] != nil
}

// sum returns the hex HMAC-SHA256 of msg under key kid.
func (k *Keyring) sum(kid string, msg []byte) (string, error) {
	k.mu.RLock()
	key := k.keys[kid]
	k.mu.RUnlock()
	if key == nil {
		return "", fmt.Errorf("unknown audit key %q", kid)
	}
	m := hmac.New(sha256.New, key.Secret)
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// check reports whether sum is the MAC of msg under key kid.
func (k *Keyring) check(kid string, msg []byte, sum string) error {
	want, err := k.sum(kid, msg)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(sum)) {
		return errors.New("MAC does not match")
	}
	return nil
}

func (k *Keyring) keyed(seq uint64) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return seq >= k.keyedFrom
}

// save writes the key file atomically with mode 0600 (caller holds mu).
func (k *Keyring) save() error {
	if k.path == "" {
		return nil
	}
	f := keyFile{Current: k.current, KeyedFrom: k.keyedFrom}
	for _, id := range k.order {
		f.Keys = append(f.Keys, k.keys[id])
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode audit keys: %w", err)
	}
	if err := secretfile.Write(k.path, b); err != nil {
		return fmt.Errorf("audit keys: %w", err)
	}
	return nil
}

// RotateKeyFile makes a new key current in the key file at path, which
// must exist (a gateway created it on its first start). A running gateway
// keeps MACing with the key it loaded until it restarts; events MAC'd
// with any key of the file keep verifying.
func RotateKeyFile(path string, now time.Time) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("audit keys: %w", err)
	}
	k, err := loadKeyring(path, 0, now)
	if err != nil {
		return "", err
	}
	return k.Rotate(now)
}

// ReloadKeys reads the key file again, for a gateway that shares it with
// other replicas: a key another rotated MACs this gateway's next events.
// A keyring kept in memory (no key file) has nothing to reload.
func (l *Log) ReloadKeys() error {
	if l.keys.path == "" {
		return nil
	}
	b, err := os.ReadFile(l.keys.path)
	if err != nil {
		return fmt.Errorf("read audit keys: %w", err)
	}
	return l.keys.parse(b)
}

// CreateKeyFile writes a key file with one fresh key at path when there is
// none, keyed from the event after the head of the trail in kv: what Open
// does on a first start, for a gateway that must publish the file to its
// replicas before opening the trail.
func CreateKeyFile(kv KV, path string, now time.Time) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l := &Log{kv: kv}
	if err := l.loadHead(false); err != nil {
		return err
	}
	_, err := loadKeyring(path, l.seq+1, now)
	return err
}
