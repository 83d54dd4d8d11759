// Package share makes time-limited, revocable, signed links to one study
// (share links), for patients to carry their images to any doctor: the
// share records, the Ed25519-signed tokens with key rotation, optional PIN
// and use limit, the short sessions an opened link gives, and QR codes.
// It knows nothing of HTTP (see httpapi/shareapi).
package share

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/records"
)

// Errors callers test with errors.Is. The HTTP layer maps them to pages.
var (
	ErrInvalid      = errors.New("invalid share")
	ErrNotFound     = errors.New("share not found")
	ErrInvalidToken = errors.New("invalid share token")
	ErrExpired      = errors.New("share link expired")
	ErrRevoked      = errors.New("share link revoked")
	ErrLocked       = errors.New("share link locked after wrong PINs")
	ErrUsedUp       = errors.New("share link used up")
	ErrPINRequired  = errors.New("PIN required")
	ErrWrongPIN     = errors.New("wrong PIN")
)

// Allow says what a share permits. Viewing (rendered images, metadata) is
// always allowed; Download adds the DICOM files and the study zip.
type Allow struct {
	Download bool
}

// MarshalJSON writes ["view"] or ["view","download"].
func (a Allow) MarshalJSON() ([]byte, error) {
	if a.Download {
		return []byte(`["view","download"]`), nil
	}
	return []byte(`["view"]`), nil
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (a *Allow) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = Allow{}
	for _, s := range list {
		switch s {
		case "view":
		case "download":
			a.Download = true
		default:
			return fmt.Errorf("%w: allow %q (view or download)", ErrInvalid, s)
		}
	}
	return nil
}

// Share is one share link as stored (records/shares/{id}.json). The token
// itself is never stored: it is derived from the record by signing.
type Share struct {
	ID      string    `json:"id"`
	Study   string    `json:"study"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Allow   Allow     `json:"allow"`
	PIN     *PINHash  `json:"pin,omitempty"`
	// MaxUses limits the number of opens (0: unlimited); Uses counts them.
	MaxUses int `json:"max_uses,omitempty"`
	Uses    int `json:"uses"`
	// FailedPINs counts wrong PINs in a row; at MaxPINFailures the share
	// locks for good.
	FailedPINs int        `json:"failed_pins,omitempty"`
	Locked     *time.Time `json:"locked,omitempty"`
	// CreatedBy names who made it ("clinician:dr.li", "patient:...") for
	// people to read; it is not an identity (two hospitals may each have a
	// dr.li). CreatorID is the creator's credential (auth.Principal.ID:
	// "token:ID" or "jwt:ISS#SUB"), what management matches; shares made
	// before it was recorded have none. Institution is the creator's, so
	// that colleagues may revoke it.
	CreatedBy   string     `json:"created_by"`
	CreatorID   string     `json:"creator_id,omitempty"`
	Institution string     `json:"institution,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	RevokedBy   string     `json:"revoked_by,omitempty"`
}

// Info is what the API shows of a share: everything but the PIN hash.
type Info struct {
	ID          string     `json:"id"`
	Study       string     `json:"study"`
	Created     time.Time  `json:"created"`
	Expires     time.Time  `json:"expires"`
	Allow       Allow      `json:"allow"`
	HasPIN      bool       `json:"has_pin"`
	MaxUses     int        `json:"max_uses,omitempty"`
	Uses        int        `json:"uses"`
	Locked      *time.Time `json:"locked,omitempty"`
	CreatedBy   string     `json:"created_by"`
	Institution string     `json:"institution,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	State       string     `json:"state"` // active, expired, revoked, locked, used-up
}

// Info returns the shareable view of s at time now.
func (s *Share) Info(now time.Time) Info {
	return Info{ID: s.ID, Study: s.Study, Created: s.Created, Expires: s.Expires, Allow: s.Allow,
		HasPIN: s.PIN != nil, MaxUses: s.MaxUses, Uses: s.Uses, Locked: s.Locked, CreatedBy: s.CreatedBy,
		Institution: s.Institution, Revoked: s.Revoked, State: s.state(now)}
}

func (s *Share) state(now time.Time) string {
	switch {
	case s.Revoked != nil:
		return "revoked"
	case !now.Before(s.Expires):
		return "expired"
	case s.Locked != nil:
		return "locked"
	case s.MaxUses > 0 && s.Uses >= s.MaxUses:
		return "used-up"
	}
	return "active"
}

// usable returns the error of a share that may not be opened now.
func (s *Share) usable(now time.Time) error {
	switch s.state(now) {
	case "revoked":
		return fmt.Errorf("share %s: %w", s.ID, ErrRevoked)
	case "expired":
		return fmt.Errorf("share %s: %w", s.ID, ErrExpired)
	case "locked":
		return fmt.Errorf("share %s: %w", s.ID, ErrLocked)
	case "used-up":
		return fmt.Errorf("share %s: %w", s.ID, ErrUsedUp)
	}
	return nil
}

// RecordStore persists shares (records.Store).
type RecordStore interface {
	Put(ctx context.Context, kind, id string, v any) error
	Get(ctx context.Context, kind, id string, v any) error
	List(ctx context.Context, kind string, fn func(id string, raw []byte) error) error
	// Update decodes kind/id into v, lets fn change it and stores it, with
	// no other Update of the record in between (on every gateway sharing
	// the index); fn returning records.ErrUnchanged stores nothing.
	Update(ctx context.Context, kind, id string, v any, fn func() error) error
}

const kind = "shares"

// Options configure a Service.
type Options struct {
	// DefaultLifetime (72 h) is a link's life unless asked otherwise;
	// MinLifetime (5 min) and MaxLifetime (30 days) bound what may be
	// asked (a link that is dead before it reaches a phone helps nobody).
	DefaultLifetime time.Duration
	MinLifetime     time.Duration
	MaxLifetime     time.Duration
	// SessionLifetime is how long an opened link's session lasts (30 min),
	// never beyond the link's own expiry.
	SessionLifetime time.Duration
	// MaxPINFailures wrong PINs lock a share (3).
	MaxPINFailures int
	Now            func() time.Time
}

// Service creates, opens and revokes shares.
type Service struct {
	rec  RecordStore
	keys *Keyring
	opt  Options
	// mu serialises the read-modify-write of opens and revocations, so
	// that use counts and PIN failures are never lost to a race.
	mu sync.Mutex
}

// New returns a share service over a record store and a keyring.
func New(rec RecordStore, keys *Keyring, opt Options) *Service {
	if opt.DefaultLifetime <= 0 {
		opt.DefaultLifetime = 72 * time.Hour
	}
	if opt.MaxLifetime <= 0 {
		opt.MaxLifetime = 30 * 24 * time.Hour
	}
	if opt.MinLifetime <= 0 {
		opt.MinLifetime = 5 * time.Minute
	}
	if opt.MinLifetime > opt.MaxLifetime {
		opt.MinLifetime = opt.MaxLifetime
	}
	if opt.DefaultLifetime > opt.MaxLifetime {
		opt.DefaultLifetime = opt.MaxLifetime
	}
	if opt.SessionLifetime <= 0 {
		opt.SessionLifetime = 30 * time.Minute
	}
	if opt.MaxPINFailures <= 0 {
		opt.MaxPINFailures = 3
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{rec: rec, keys: keys, opt: opt}
}

// Lifetimes returns the shortest and longest life a link may be given.
func (s *Service) Lifetimes() (minimum, maximum time.Duration) {
	return s.opt.MinLifetime, s.opt.MaxLifetime
}

// Keys returns the keyring (for rotation through the admin API).
func (s *Service) Keys() *Keyring { return s.keys }

// Request asks for a new share.
type Request struct {
	Study    string
	Lifetime time.Duration // 0: the default; else MinLifetime to MaxLifetime
	Allow    Allow
	// PIN, when set, is 4 to 12 digits asked before opening.
	PIN string
	// MaxUses limits opens (0: unlimited).
	MaxUses     int
	CreatedBy   string
	CreatorID   string
	Institution string
}

// Create stores a new share and returns it with its token.
func (s *Service) Create(ctx context.Context, r Request) (*Share, string, error) {
	switch {
	case !dcm.ValidUID(r.Study):
		return nil, "", fmt.Errorf("%w: study %q is not a valid UID", ErrInvalid, r.Study)
	case r.Lifetime < 0:
		return nil, "", fmt.Errorf("%w: lifetime must be positive", ErrInvalid)
	case r.Lifetime > 0 && r.Lifetime < s.opt.MinLifetime:
		return nil, "", fmt.Errorf("%w: lifetime %s is under the minimum of %s", ErrInvalid, r.Lifetime, s.opt.MinLifetime)
	case r.Lifetime > s.opt.MaxLifetime:
		return nil, "", fmt.Errorf("%w: lifetime %s is beyond the maximum of %s", ErrInvalid, r.Lifetime, s.opt.MaxLifetime)
	case r.MaxUses < 0 || r.MaxUses > 10000:
		return nil, "", fmt.Errorf("%w: uses must be between 0 (unlimited) and 10000", ErrInvalid)
	case r.PIN != "" && !validPIN(r.PIN):
		return nil, "", fmt.Errorf("%w: the PIN is 4 to 12 digits", ErrInvalid)
	}
	if r.Lifetime == 0 {
		r.Lifetime = s.opt.DefaultLifetime
	}
	now := s.opt.Now().UTC()
	sh := &Share{ID: newShareID(), Study: r.Study, Created: now, Expires: now.Add(r.Lifetime).Truncate(time.Second),
		Allow: r.Allow, MaxUses: r.MaxUses, CreatedBy: r.CreatedBy, CreatorID: r.CreatorID, Institution: r.Institution}
	if r.PIN != "" {
		h, err := hashPIN(r.PIN)
		if err != nil {
			return nil, "", err
		}
		sh.PIN = h
	}
	if err := s.rec.Put(ctx, kind, sh.ID, sh); err != nil {
		return nil, "", fmt.Errorf("store share: %w", err)
	}
	return sh, s.Token(sh), nil
}

// Token makes the short link token of a share under the current signing
// key (see link.go). Tokens are not stored; they can be made again (to
// show a QR code again). A share whose id cannot make one (none that
// Create makes) gets the long signed form.
func (s *Service) Token(sh *Share) string {
	if tok, err := s.keys.encodeLink(sh.ID); err == nil {
		return tok
	}
	return s.keys.encode(claims{Kind: kindLink, Share: sh.ID, Study: sh.Study, Expires: sh.Expires.Unix(), Allow: allowCode(sh.Allow)})
}

// Get returns a share by id.
func (s *Service) Get(ctx context.Context, id string) (*Share, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var sh Share
	if err := s.rec.Get(ctx, kind, id, &sh); err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil, fmt.Errorf("read share %s: %w", id, err)
	}
	return &sh, nil
}

// List returns the shares of a study ("" for all), newest first.
func (s *Service) List(ctx context.Context, study string) ([]*Share, error) {
	var out []*Share
	err := s.rec.List(ctx, kind, func(id string, raw []byte) error {
		var sh Share
		if err := json.Unmarshal(raw, &sh); err != nil {
			return fmt.Errorf("decode share %s: %w", id, err)
		}
		if study == "" || sh.Study == study {
			out = append(out, &sh)
		}
		return nil
	})
	for i := 1; i < len(out); i++ { // few per study: insertion sort, newest first
		for j := i; j > 0 && out[j].Created.After(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, err
}

// Revoke ends a share now; links and sessions stop working at once.
func (s *Service) Revoke(ctx context.Context, id, by string) (*Share, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if sh.Revoked != nil {
		return sh, nil
	}
	now := s.opt.Now().UTC()
	sh.Revoked, sh.RevokedBy = &now, by
	if err := s.rec.Put(ctx, kind, sh.ID, sh); err != nil {
		return nil, fmt.Errorf("store share: %w", err)
	}
	return sh, nil
}

// Check verifies a link token and the state of its share without using
// it up: what a landing page (and a chat app's preview fetch) may do.
// Short links are verified by their MAC before the record is read; long
// signed links made before them keep working until they expire (at most
// MaxLifetime) or their key is retired.
func (s *Service) Check(ctx context.Context, token string) (*Share, error) {
	now := s.opt.Now()
	if isShortLink(token) {
		id, err := s.keys.decodeLink(token)
		if err != nil {
			return nil, err
		}
		sh, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: no such share", ErrInvalidToken)
		}
		if err != nil {
			return nil, err
		}
		return sh, sh.usable(now)
	}
	c, err := s.keys.decode(token, kindLink, now)
	if errors.Is(err, ErrExpired) {
		// A genuine but expired link: name its share for the audit trail.
		sh, _ := s.Get(ctx, c.Share)
		return sh, err
	}
	if err != nil {
		return nil, err
	}
	sh, err := s.Get(ctx, c.Share)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: no such share", ErrInvalidToken)
	}
	if err != nil {
		return nil, err
	}
	if sh.Study != c.Study || sh.Expires.Unix() != c.Expires || allowCode(sh.Allow) != c.Allow {
		return nil, fmt.Errorf("%w: does not match share %s", ErrInvalidToken, sh.ID)
	}
	return sh, sh.usable(now)
}

// Session is what an opened link grants: a signed cookie value and its
// expiry.
type Session struct {
	Value   string
	Expires time.Time
}

// Open uses a link: it verifies the token, the PIN when the share has one
// (wrong PINs count; MaxPINFailures of them lock the share), counts a use
// and returns a session. A share with a PIN answers ErrPINRequired when
// pin is empty, without counting a failure.
func (s *Service) Open(ctx context.Context, token, pin string) (*Share, *Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.Check(ctx, token)
	if err != nil {
		return sh, nil, err
	}
	now := s.opt.Now().UTC()
	if sh.PIN != nil && pin == "" {
		return sh, nil, fmt.Errorf("share %s: %w", sh.ID, ErrPINRequired)
	}
	// The use or the wrong PIN is counted on the record as it is now,
	// under its lock in the index: other gateways on the same index may
	// be opening the same link (mu covers this process only).
	var cur Share
	var outcome error
	err = s.rec.Update(ctx, kind, sh.ID, &cur, func() error {
		if outcome = cur.usable(now); outcome != nil {
			return records.ErrUnchanged
		}
		if cur.PIN != nil && !cur.PIN.matches(pin) {
			cur.FailedPINs++
			outcome = fmt.Errorf("share %s: %w (%d of %d)", cur.ID, ErrWrongPIN, cur.FailedPINs, s.opt.MaxPINFailures)
			if cur.FailedPINs >= s.opt.MaxPINFailures {
				cur.Locked = &now
				outcome = fmt.Errorf("share %s: %w", cur.ID, ErrLocked)
			}
			return nil
		}
		cur.Uses++
		cur.FailedPINs = 0
		return nil
	})
	if err != nil {
		return sh, nil, fmt.Errorf("store share: %w", err)
	}
	sh = &cur
	if outcome != nil {
		return sh, nil, outcome
	}
	exp := now.Add(s.opt.SessionLifetime)
	if sh.Expires.Before(exp) {
		exp = sh.Expires
	}
	exp = exp.Truncate(time.Second)
	v := s.keys.encode(claims{Kind: kindSession, Share: sh.ID, Study: sh.Study, Expires: exp.Unix(),
		Allow: allowCode(sh.Allow), Nonce: newID()})
	return sh, &Session{Value: v, Expires: exp}, nil
}

// Remaining is how many wrong PINs a share still tolerates.
func (s *Service) Remaining(sh *Share) int {
	return max(0, s.opt.MaxPINFailures-sh.FailedPINs)
}

// Grant is what a session lets its holder do.
type Grant struct {
	Share   string
	Study   string
	Allow   Allow
	Expires time.Time
}

// Session verifies a session cookie value and that its share is neither
// revoked nor expired (checked on every request, so a revocation ends
// sessions at once).
func (s *Service) Session(ctx context.Context, value string) (Grant, error) {
	c, err := s.keys.decode(value, kindSession, s.opt.Now())
	if err != nil {
		return Grant{}, err
	}
	sh, err := s.Get(ctx, c.Share)
	if err != nil {
		return Grant{}, err
	}
	if sh.Revoked != nil {
		return Grant{}, fmt.Errorf("share %s: %w", sh.ID, ErrRevoked)
	}
	if !s.opt.Now().Before(sh.Expires) {
		return Grant{}, fmt.Errorf("share %s: %w", sh.ID, ErrExpired)
	}
	if sh.Study != c.Study {
		return Grant{}, fmt.Errorf("%w: session does not match share %s", ErrInvalidToken, sh.ID)
	}
	return Grant{Share: sh.ID, Study: sh.Study, Allow: Allow{Download: c.Allow == "vd" && sh.Allow.Download},
		Expires: time.Unix(c.Expires, 0).UTC()}, nil
}

// ParseAllow reads "view" or "view,download" (or "download").
func ParseAllow(s string) (Allow, error) {
	var a Allow
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "", "view":
		case "download":
			a.Download = true
		default:
			return a, fmt.Errorf("%w: allow %q (view or download)", ErrInvalid, p)
		}
	}
	return a, nil
}

func validPIN(p string) bool {
	if len(p) < 4 || len(p) > 12 {
		return false
	}
	_, err := strconv.ParseUint(p, 10, 64)
	return err == nil && !strings.ContainsAny(p, "+-")
}
