package federation

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/imgcloud/gateway/internal/secretfile"
)

// LoadOrCreateKey reads this gateway's Ed25519 private key (PKCS#8 PEM)
// from path, creating it with mode 0600 when absent; created says so. A
// key file that others may read is refused.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
		return key, err == nil, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read federation key: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("stat federation key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("%w: key file %s is readable by others (mode %o): chmod 600 it", ErrConfig, path, st.Mode().Perm())
	}
	key, err = ParsePrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	return key, false, nil
}

// ParsePrivateKey decodes a PKCS#8 PEM Ed25519 private key.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not Ed25519", k)
	}
	return ek, nil
}

// EncodePrivateKey returns key as PKCS#8 PEM.
func EncodePrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// createKey writes a new key atomically: temp file (0600), fsync, rename.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate federation key: %w", err)
	}
	b, err := EncodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := secretfile.Write(path, b); err != nil {
		return nil, fmt.Errorf("federation key: %w", err)
	}
	return key, nil
}
