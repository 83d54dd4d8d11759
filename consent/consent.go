// Package consent keeps patients' authorisations to view their images
// (an institution, a region or every institution, for a period, optionally
// limited to items or studies; revocable) and says whether one in force
// covers a study for an institution (Covers). Who may see what is
// package access's rule, which asks Covers.
package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/index"
)

// Errors callers test with errors.Is.
var (
	ErrInvalid  = errors.New("invalid consent")
	ErrNotFound = errors.New("consent not found")
)

// Grantee kinds.
const (
	GranteeInstitution = "institution"
	GranteeRegion      = "region"
	GranteeAll         = "all"
)

// DefaultPeriod is how long a consent lasts when no end is given.
const DefaultPeriod = 30 * 24 * time.Hour

// Consent is one authorisation by a patient.
type Consent struct {
	ID        string `json:"id"`
	PersonKey string `json:"person_key"`
	// Grantee: kind institution (ID = institution id), region (ID = region
	// id) or all.
	GranteeKind string     `json:"grantee_kind"`
	GranteeID   string     `json:"grantee_id,omitempty"`
	From        time.Time  `json:"from"`
	Until       time.Time  `json:"until"`
	Items       []string   `json:"items,omitempty"`   // catalogue item codes; empty: any
	Studies     []string   `json:"studies,omitempty"` // study UIDs; empty: any
	Created     time.Time  `json:"created"`
	CreatedBy   string     `json:"created_by,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
}

// Facts are what consent decisions need to know about studies and
// institutions (the recognition service knows them).
type Facts interface {
	// StudyInstitution is the id of the institution holding a study.
	StudyInstitution(ctx context.Context, st *index.Study) string
	// StudyPerson is the person key of a study's patient ("" if unlinked).
	StudyPerson(ctx context.Context, st *index.Study) string
	// StudyLink is StudyPerson and when the study's patient was linked to
	// that person (zero if unknown: linked before anything was recorded).
	StudyLink(ctx context.Context, st *index.Study) (person string, linked time.Time)
	// StudyItems are the catalogue item codes a study matches.
	StudyItems(ctx context.Context, st *index.Study) []string
	// Regions lists the region ids an institution belongs to.
	Regions(institution string) []string
}

// RecordStore persists consents (records.Store).
type RecordStore interface {
	Put(ctx context.Context, kind, id string, v any) error
	List(ctx context.Context, kind string, fn func(id string, raw []byte) error) error
}

const kind = "consents"

// Service stores consents and answers visibility questions. Consents are
// few per person and read on every query, so they are cached in memory by
// person key.
type Service struct {
	rec RecordStore
	now func() time.Time
	// vsync is what keeps this cache in step with other gateways on the
	// same index (replicas.go).
	vsync versionSync

	mu       sync.RWMutex
	byPerson map[string][]*Consent
	byID     map[string]*Consent
	// byGrantee holds the consents not revoked by grantee ("institution/"
	// id, "region/" id, "all/"), so that Grantors reads an institution's
	// consents only, not every person's. Kept by index (grant, revoke)
	// and rebuilt by New from the records, which reindex restores.
	byGrantee map[string][]*Consent
	// examined counts the consents Grantors read (tests).
	examined atomic.Int64
}

func granteeKey(kind, id string) string { return kind + "/" + id }

// New loads every consent.
func New(ctx context.Context, rec RecordStore, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	s := &Service{rec: rec, now: now, byPerson: map[string][]*Consent{}, byID: map[string]*Consent{}, byGrantee: map[string][]*Consent{}}
	err := rec.List(ctx, kind, func(id string, raw []byte) error {
		var c Consent
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("decode consent %s: %w", id, err)
		}
		s.index(&c)
		return nil
	})
	return s, err
}

func (s *Service) index(c *Consent) {
	if old := s.byID[c.ID]; old != nil {
		list := s.byPerson[old.PersonKey]
		s.byPerson[old.PersonKey] = slices.DeleteFunc(slices.Clone(list), func(x *Consent) bool { return x.ID == c.ID })
		gk := granteeKey(old.GranteeKind, old.GranteeID)
		if l := slices.DeleteFunc(slices.Clone(s.byGrantee[gk]), func(x *Consent) bool { return x.ID == c.ID }); len(l) > 0 {
			s.byGrantee[gk] = l
		} else {
			delete(s.byGrantee, gk)
		}
	}
	s.byID[c.ID] = c
	s.byPerson[c.PersonKey] = append(s.byPerson[c.PersonKey], c)
	if c.Revoked == nil {
		gk := granteeKey(c.GranteeKind, c.GranteeID)
		s.byGrantee[gk] = append(s.byGrantee[gk], c)
	}
}

// Grant records a consent. Until defaults to From + 30 days; From defaults
// to now.
func (s *Service) Grant(ctx context.Context, c Consent) (*Consent, error) {
	now := s.now().UTC()
	if c.From.IsZero() {
		c.From = now
	}
	if c.Until.IsZero() {
		c.Until = c.From.Add(DefaultPeriod)
	}
	switch {
	case len(c.PersonKey) != 64:
		return nil, fmt.Errorf("%w: person_key must be the 64-hex-digit key of a linked person", ErrInvalid)
	case c.GranteeKind == GranteeAll && c.GranteeID != "":
		return nil, fmt.Errorf("%w: grantee \"all\" takes no id", ErrInvalid)
	case (c.GranteeKind == GranteeInstitution || c.GranteeKind == GranteeRegion) && c.GranteeID == "":
		return nil, fmt.Errorf("%w: grantee %s needs an id", ErrInvalid, c.GranteeKind)
	case c.GranteeKind != GranteeAll && c.GranteeKind != GranteeInstitution && c.GranteeKind != GranteeRegion:
		return nil, fmt.Errorf("%w: grantee_kind must be institution, region or all", ErrInvalid)
	case !c.Until.After(c.From):
		return nil, fmt.Errorf("%w: until must be after from", ErrInvalid)
	case c.Until.Sub(c.From) > 366*24*time.Hour:
		return nil, fmt.Errorf("%w: a consent lasts at most a year", ErrInvalid)
	case c.Until.Before(now):
		return nil, fmt.Errorf("%w: the period has already ended", ErrInvalid)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	c.ID = "c-" + hex.EncodeToString(b[:])
	c.Created = now
	c.Revoked = nil
	if err := s.rec.Put(ctx, kind, c.ID, &c); err != nil {
		return nil, fmt.Errorf("store consent: %w", err)
	}
	s.mu.Lock()
	s.index(&c)
	s.mu.Unlock()
	if err := s.bump(ctx); err != nil {
		return nil, fmt.Errorf("store consent: %w", err)
	}
	return &c, nil
}

// Revoke ends a consent now. Only the person it belongs to (or an admin,
// person == "") may revoke it.
func (s *Service) Revoke(ctx context.Context, id, person string) (*Consent, error) {
	s.refresh(ctx)
	s.mu.RLock()
	c := s.byID[id]
	s.mu.RUnlock()
	if c == nil || (person != "" && c.PersonKey != person) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	cc := *c
	now := s.now().UTC()
	cc.Revoked = &now
	if err := s.rec.Put(ctx, kind, id, &cc); err != nil {
		return nil, fmt.Errorf("store consent: %w", err)
	}
	s.mu.Lock()
	s.index(&cc)
	s.mu.Unlock()
	if err := s.bump(ctx); err != nil {
		return nil, fmt.Errorf("store consent: %w", err)
	}
	return &cc, nil
}

// List returns a person's consents, newest first.
func (s *Service) List(person string) []Consent {
	s.refresh(context.Background())
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Consent, 0, len(s.byPerson[person]))
	for _, c := range s.byPerson[person] {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Consent) int { return b.Created.Compare(a.Created) })
	return out
}

// active reports whether c is in force now.
func (c *Consent) active(now time.Time) bool {
	return c.Revoked == nil && !now.Before(c.From) && now.Before(c.Until)
}

// Covers reports whether a consent in force lets institution see st, the
// facts of st read from f. A consent covers what was linked to the person
// when it was given: a study whose patient was linked later (perhaps
// wrongly, perhaps by someone hoping to widen the consent) needs a newer
// consent.
func (s *Service) Covers(ctx context.Context, st *index.Study, institution string, f Facts) bool {
	person, linked := f.StudyLink(ctx, st)
	if person == "" || institution == "" {
		return false
	}
	s.refresh(ctx)
	s.mu.RLock()
	list := s.byPerson[person]
	s.mu.RUnlock()
	now := s.now()
	var items []string
	for _, c := range list {
		if !c.active(now) || linked.After(c.Created) {
			continue
		}
		switch c.GranteeKind {
		case GranteeInstitution:
			if c.GranteeID != institution {
				continue
			}
		case GranteeRegion:
			if !slices.Contains(f.Regions(institution), c.GranteeID) {
				continue
			}
		}
		if len(c.Studies) > 0 && !slices.Contains(c.Studies, st.UID) {
			continue
		}
		if len(c.Items) > 0 {
			if items == nil {
				items = f.StudyItems(ctx, st)
			}
			if !intersects(c.Items, items) {
				continue
			}
		}
		return true
	}
	return false
}

// Grantors returns the person keys with a consent in force that may let
// institution, a member of regions, see some of their studies (Covers
// decides per study). The query planner reads those persons' studies.
func (s *Service) Grantors(institution string, regions []string) []string {
	s.refresh(context.Background())
	now := s.now()
	keys := []string{granteeKey(GranteeAll, ""), granteeKey(GranteeInstitution, institution)}
	for _, r := range regions {
		keys = append(keys, granteeKey(GranteeRegion, r))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		for _, c := range s.byGrantee[k] {
			s.examined.Add(1)
			if c.active(now) && !seen[c.PersonKey] {
				seen[c.PersonKey] = true
				out = append(out, c.PersonKey)
			}
		}
	}
	slices.Sort(out)
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
