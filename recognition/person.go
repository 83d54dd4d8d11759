package recognition

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/imgcloud/gateway/internal/secretfile"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/auth"
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
	// Create-only and atomic: a replica starting beside this one on the
	// same folder either made the file first (then its secret is taken)
	// or sees none until this one is whole.
	if err := secretfile.Create(path, []byte(hex.EncodeToString(secret)+"\n")); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateSecret(path)
		}
		return nil, fmt.Errorf("write person key secret: %w", err)
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

// patientLink is the record patient-links/{hash of issuer and ID}. An
// unlinked reference keeps its record, with no person and the time of the
// unlink: records are rewritten, never deleted, so that a crash or a
// reindex cannot bring a removed link back.
type patientLink struct {
	PatientRef
	PersonKey string `json:"person_key"`
	// Linked is when the reference was linked to PersonKey: consents given
	// before it do not cover the reference's studies.
	Linked   time.Time  `json:"linked"`
	Unlinked *time.Time `json:"unlinked,omitempty"`
}

// linkID is the record id of a patient reference: a digest, because
// issuers and IDs may hold characters that are not safe in paths.
func linkID(r PatientRef) string {
	sum := sha256.Sum256([]byte(r.Issuer + "\x00" + r.PatientID))
	return hex.EncodeToString(sum[:16])
}

// LinkRequest asks to link a patient reference to a person (or to undo
// that link), the person named by a national identifier (hashed at once,
// never stored) or, by administrators only, a person key.
type LinkRequest struct {
	NationalID string `json:"national_id,omitempty"`
	PersonKey  string `json:"person_key,omitempty"`
	PatientRef
}

// LinkOutcome says what a link change did. It goes to the audit trail,
// never to a clinician's answer (see LinkResult).
type LinkOutcome string

// Link outcomes.
const (
	LinkAdded     LinkOutcome = "added"     // a new link
	LinkUnchanged LinkOutcome = "unchanged" // already linked to this person
	// LinkConflict: linked to another person; nothing changed. Only
	// non-administrators get it (administrators get an ErrConflict), with
	// the answer of a successful link: an administrator undoes the wrong
	// link (Unlink).
	LinkConflict LinkOutcome = "conflict"
	LinkRemoved  LinkOutcome = "removed" // Unlink removed the link
	LinkAbsent   LinkOutcome = "absent"  // Unlink found nothing to remove
)

// Answer statuses of link changes.
const (
	// StatusAccepted answers every link request of a clinician: new, again
	// to the same person, or refused because the reference is linked to
	// someone else. One answer for the three, so that a clinician cannot
	// test national identifiers against a reference.
	StatusAccepted = "accepted"
	// StatusLinked and StatusNotLinked answer administrators.
	StatusLinked    = "linked"
	StatusNotLinked = "not_linked"
	// StatusUnlinked answers every unlink request of a clinician, and an
	// administrator's that removed a link.
	StatusUnlinked = "unlinked"
)

// LinkResult is the answer to a link change.
type LinkResult struct {
	PatientRef
	// PersonKey is given to administrators only: to a clinician it would
	// turn any national identifier they know into the key that the secret
	// protects.
	PersonKey string `json:"person_key,omitempty"`
	Status    string `json:"status"`
	Note      string `json:"note,omitempty"`
	// Outcome is for the audit trail.
	Outcome LinkOutcome `json:"-"`
}

// noteAccepted is the note of a clinician's link answer.
const noteAccepted = "the patient ID is linked to the person of this national ID, unless it was already linked to another person: " +
	"then nothing changed, and an administrator resolves it from the audit trail"

// Link links (issuer, patient ID) to a person. Administrators may link any
// issuer's patient IDs, naming the person by national identifier or person
// key, and get the person key back; a clinician or PACS only its own
// institution's issuers (see Issues), by national identifier only, and
// gets an answer that says neither the key nor whether the reference was
// linked before. Anyone else is refused (auth.ErrForbidden).
//
// Linking again to the same person changes nothing. A reference linked to
// another person stays so: an administrator gets an ErrConflict and undoes
// the wrong link with Unlink first.
func (s *Service) Link(ctx context.Context, by auth.Principal, req LinkRequest) (*LinkResult, error) {
	ref, admin, err := s.linkAccess(by, req)
	if err != nil {
		return nil, err
	}
	key, err := s.personKey(req.NationalID, req.PersonKey)
	if err != nil {
		return nil, err
	}
	res := &LinkResult{PatientRef: ref, Status: StatusAccepted, Note: noteAccepted}
	if admin {
		res.PersonKey, res.Status, res.Note = key, StatusLinked, ""
	}
	s.links.Lock()
	defer s.links.Unlock()
	old, err := s.linkOf(ctx, ref)
	switch {
	case err != nil:
		return nil, err
	case old.PersonKey == key:
		res.Outcome = LinkUnchanged
		return res, nil
	case old.PersonKey != "" && admin:
		return nil, fmt.Errorf("%w: patient %s of %s is already linked to another person; undo that link first (POST /api/v1/persons/links/unlink)", ErrConflict, ref.PatientID, ref.Issuer)
	case old.PersonKey != "":
		res.Outcome = LinkConflict
		return res, nil
	}
	var p Person
	if err := s.rec.Get(ctx, kindPersons, key, &p); err != nil && !errors.Is(err, records.ErrNotFound) {
		return nil, err
	}
	p.Key = key
	if !slices.Contains(p.Links, ref) {
		p.Links = append(p.Links, ref)
	}
	// The person record first: a link record never points to a person
	// that does not list it.
	if err := s.rec.Put(ctx, kindPersons, key, &p); err != nil {
		return nil, fmt.Errorf("store person: %w", err)
	}
	if err := s.rec.Put(ctx, kindPatientLinks, linkID(ref), &patientLink{PatientRef: ref, PersonKey: key, Linked: s.opt.Now().UTC()}); err != nil {
		return nil, fmt.Errorf("store patient link: %w", err)
	}
	res.Outcome = LinkAdded
	return res, nil
}

// Unlink undoes the link of (issuer, patient ID), after which the
// reference can be linked to the right person. Administrators may unlink
// any reference, whoever it is linked to (or, naming a person, only from
// that person). A clinician only its own institution's references, naming
// the person by national identifier, and always gets the same answer:
// afterwards the reference is not linked to that person, whether it was
// before or not.
func (s *Service) Unlink(ctx context.Context, by auth.Principal, req LinkRequest) (*LinkResult, error) {
	ref, admin, err := s.linkAccess(by, req)
	if err != nil {
		return nil, err
	}
	key := ""
	if !admin || req.NationalID != "" || req.PersonKey != "" {
		if key, err = s.personKey(req.NationalID, req.PersonKey); err != nil {
			return nil, err
		}
	}
	res := &LinkResult{PatientRef: ref, Status: StatusUnlinked}
	s.links.Lock()
	defer s.links.Unlock()
	old, err := s.linkOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	if old.PersonKey == "" || (key != "" && old.PersonKey != key) {
		res.Outcome = LinkAbsent
		if admin {
			res.Status = StatusNotLinked
			if old.PersonKey != "" {
				res.Note = "linked to another person than the one named: nothing changed (name nobody to remove the link)"
			}
		}
		return res, nil
	}
	// The link record first, the reverse of Link: from this write on the
	// reference's studies no longer belong to the person (consents stop
	// covering them); a person record still listing the reference after a
	// crash is ignored (refsOf checks every link).
	now := s.opt.Now().UTC()
	if err := s.rec.Put(ctx, kindPatientLinks, linkID(ref), &patientLink{PatientRef: ref, Unlinked: &now}); err != nil {
		return nil, fmt.Errorf("store patient link: %w", err)
	}
	var p Person
	if err := s.rec.Get(ctx, kindPersons, old.PersonKey, &p); err != nil && !errors.Is(err, records.ErrNotFound) {
		return nil, err
	}
	if i := slices.Index(p.Links, ref); i >= 0 {
		p.Links = slices.Delete(p.Links, i, i+1)
		if err := s.rec.Put(ctx, kindPersons, old.PersonKey, &p); err != nil {
			return nil, fmt.Errorf("store person: %w", err)
		}
	}
	if admin {
		res.PersonKey = old.PersonKey
	}
	res.Outcome = LinkRemoved
	return res, nil
}

// linkAccess checks the reference of a link change and whether by may
// make it; admin says whether by acts as an administrator.
func (s *Service) linkAccess(by auth.Principal, req LinkRequest) (ref PatientRef, admin bool, err error) {
	ref = PatientRef{Issuer: strings.TrimSpace(req.Issuer), PatientID: strings.TrimSpace(req.PatientID)}
	switch by.Role {
	case auth.RoleAdmin:
		admin = true
	case auth.RoleClinician, auth.RolePACS:
		if by.Institution == "" {
			return ref, false, fmt.Errorf("%w: these credentials name no institution", auth.ErrForbidden)
		}
	default:
		return ref, false, fmt.Errorf("%w: only administrators and an institution's clinicians may change person links", auth.ErrForbidden)
	}
	if ref.Issuer == "" || ref.PatientID == "" || len(ref.Issuer) > 64 || len(ref.PatientID) > 64 {
		return ref, admin, invalidf("issuer and patient_id are required (at most 64 characters each)")
	}
	if admin {
		return ref, true, nil
	}
	if req.PersonKey != "" {
		return ref, false, fmt.Errorf("%w: name the person by national_id; person keys are for administrators", auth.ErrForbidden)
	}
	if !s.Issues(by.Institution, ref.Issuer) {
		return ref, false, fmt.Errorf("%w: issuer %q is not one of %s's; the issuing institution or an administrator links its patient IDs", auth.ErrForbidden, ref.Issuer, by.Institution)
	}
	return ref, false, nil
}

// Issues reports whether institution issues the patient IDs of issuer:
// issuer is one of its declared issuers or, when it declares none, its own
// id (unless another institution declares that id as an issuer).
func (s *Service) Issues(institution, issuer string) bool {
	st := s.state()
	in := st.institutions[institution]
	switch {
	case in == nil || issuer == "":
		return false
	case len(in.Issuers) > 0:
		return slices.ContainsFunc(in.Issuers, func(is string) bool { return strings.TrimSpace(is) == issuer })
	}
	other := st.byIssuer[issuer]
	return issuer == in.ID && (other == nil || other == in)
}

// linkOf returns the link record of a reference (a zero one when there is
// none).
func (s *Service) linkOf(ctx context.Context, ref PatientRef) (patientLink, error) {
	var l patientLink
	err := s.rec.Get(ctx, kindPatientLinks, linkID(ref), &l)
	if errors.Is(err, records.ErrNotFound) {
		return patientLink{}, nil
	}
	if err != nil {
		return patientLink{}, fmt.Errorf("read patient link: %w", err)
	}
	return l, nil
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

// refsOf returns the patient references linked to a person key: those
// its record lists whose link record points back to it (a crash in the
// middle of Unlink may leave one listed).
func (s *Service) refsOf(ctx context.Context, key string) ([]PatientRef, error) {
	var p Person
	if err := s.rec.Get(ctx, kindPersons, key, &p); err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]PatientRef, 0, len(p.Links))
	for _, r := range p.Links {
		l, err := s.linkOf(ctx, r)
		if err != nil {
			return nil, err
		}
		if l.PersonKey == key {
			out = append(out, r)
		}
	}
	return out, nil
}

// personOf returns the person key a patient reference is linked to, or "".
func (s *Service) personOf(ctx context.Context, ref PatientRef) (string, error) {
	l, err := s.linkOf(ctx, ref)
	return l.PersonKey, err
}
