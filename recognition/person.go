package recognition

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/records"
)

// PersonKey derives the person key of a national identifier (居民身份证号,
// 18 characters with its ISO 7064 MOD 11-2 check character): the hex
// HMAC-SHA256 of the identifier under secret. The identifier itself is
// never stored; without the secret, the key cannot be reversed by trying
// the (few) plausible identifiers.
func PersonKey(secret []byte, nationalID string) (string, error) {
	id, err := normaliseNationalID(nationalID)
	if err != nil {
		return "", err
	}
	if len(secret) < 16 {
		return "", errors.New("person key secret is missing or shorter than 16 bytes")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("imgcloud-person-v1\x00" + id))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// normaliseNationalID checks an 18-character resident identity card number
// (GB 11643-1999) and returns it with an upper-case check character. The
// error never repeats the identifier.
func normaliseNationalID(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 18 {
		return "", invalidf("national_id must be an 18-character resident identity card number")
	}
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		if s[i] < '0' || s[i] > '9' {
			return "", invalidf("national_id: the first 17 characters must be digits")
		}
		sum += int(s[i]-'0') * w
	}
	if "10X98765432"[sum%11] != s[17] {
		return "", invalidf("national_id: the check character does not match (mistyped?)")
	}
	return s, nil
}

// validPersonKey reports whether s looks like a person key.
func validPersonKey(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// LoadOrCreateSecret returns the person key secret stored in the file at
// path (hex), creating it with 32 random bytes (mode 0600, folder 0700)
// when it does not exist. Keep a copy: person keys, and so the links made
// with them, depend on it.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 16 {
			return nil, fmt.Errorf("person key secret %s: not hex of at least 16 bytes", path)
		}
		return secret, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read person key secret: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate person key secret: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create person key secret: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(secret) + "\n")
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = serr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write person key secret: %w", werr)
	}
	return secret, nil
}

// PatientRef names a patient in one hospital's numbering.
type PatientRef struct {
	Issuer    string `json:"issuer"`
	PatientID string `json:"patient_id"`
}

// Person is the record persons/{key}: the patient IDs linked to a person.
type Person struct {
	Key   string       `json:"person_key"`
	Links []PatientRef `json:"links"`
}

// patientLink is the record patient-links/{hash of issuer and ID}.
type patientLink struct {
	PatientRef
	PersonKey string    `json:"person_key"`
	Linked    time.Time `json:"linked"`
}

// linkID is the record id of a patient reference: a digest, because
// issuers and IDs may hold characters that are not safe in paths.
func linkID(r PatientRef) string {
	sum := sha256.Sum256([]byte(r.Issuer + "\x00" + r.PatientID))
	return hex.EncodeToString(sum[:16])
}

// LinkRequest asks to link a patient reference to a person, named by a
// national identifier (hashed at once, never stored) or a person key.
type LinkRequest struct {
	NationalID string `json:"national_id,omitempty"`
	PersonKey  string `json:"person_key,omitempty"`
	PatientRef
}

// Link links (issuer, patient ID) to a person and returns the person key.
// Linking again to the same person is a no-op; to another person, an
// ErrConflict.
func (s *Service) Link(ctx context.Context, req LinkRequest) (string, error) {
	ref := PatientRef{Issuer: strings.TrimSpace(req.Issuer), PatientID: strings.TrimSpace(req.PatientID)}
	if ref.Issuer == "" || ref.PatientID == "" || len(ref.Issuer) > 64 || len(ref.PatientID) > 64 {
		return "", invalidf("issuer and patient_id are required (at most 64 characters each)")
	}
	key, err := s.personKey(req.NationalID, req.PersonKey)
	if err != nil {
		return "", err
	}
	s.links.Lock()
	defer s.links.Unlock()
	var old patientLink
	switch err := s.rec.Get(ctx, kindPatientLinks, linkID(ref), &old); {
	case err == nil && old.PersonKey == key:
		return key, nil
	case err == nil:
		return "", fmt.Errorf("%w: patient %s of %s is already linked to another person", ErrConflict, ref.PatientID, ref.Issuer)
	case !errors.Is(err, records.ErrNotFound):
		return "", err
	}
	var p Person
	if err := s.rec.Get(ctx, kindPersons, key, &p); err != nil && !errors.Is(err, records.ErrNotFound) {
		return "", err
	}
	p.Key = key
	if !slices.Contains(p.Links, ref) {
		p.Links = append(p.Links, ref)
	}
	// The person record first: a link record never points to a person
	// that does not list it.
	if err := s.rec.Put(ctx, kindPersons, key, &p); err != nil {
		return "", fmt.Errorf("store person: %w", err)
	}
	if err := s.rec.Put(ctx, kindPatientLinks, linkID(ref), &patientLink{PatientRef: ref, PersonKey: key, Linked: s.opt.Now().UTC()}); err != nil {
		return "", fmt.Errorf("store patient link: %w", err)
	}
	return key, nil
}

// personKey returns the person key from a national identifier or a key.
func (s *Service) personKey(nationalID, key string) (string, error) {
	switch {
	case nationalID != "" && key != "":
		return "", invalidf("give national_id or person_key, not both")
	case nationalID != "":
		if len(s.opt.PersonKeySecret) == 0 {
			return "", errors.New("no person key secret is configured")
		}
		return PersonKey(s.opt.PersonKeySecret, nationalID)
	case validPersonKey(key):
		return key, nil
	case key != "":
		return "", invalidf("person_key must be 64 lower-case hex characters")
	}
	return "", invalidf("national_id or person_key is required")
}

// refsOf returns the patient references linked to a person key.
func (s *Service) refsOf(ctx context.Context, key string) ([]PatientRef, error) {
	var p Person
	if err := s.rec.Get(ctx, kindPersons, key, &p); err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return nil, notFoundf("no patient is linked to this person key")
		}
		return nil, err
	}
	return p.Links, nil
}

// personOf returns the person key a patient reference is linked to, or "".
func (s *Service) personOf(ctx context.Context, ref PatientRef) (string, error) {
	var l patientLink
	err := s.rec.Get(ctx, kindPatientLinks, linkID(ref), &l)
	if errors.Is(err, records.ErrNotFound) {
		return "", nil
	}
	return l.PersonKey, err
}
