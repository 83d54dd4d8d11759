package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/imgcloud/gateway/records"
)

// With several gateways on one index each caches every consent. Every
// Grant and Revoke writes a new random version record; a gateway that
// finds a version other than the one it last loaded reloads (reading it at
// most every refreshEvery), so that a consent revoked through one replica
// stops counting on the others within about a second.

// refreshEvery is how often a gateway reads the consents' version.
const refreshEvery = 500 * time.Millisecond

const (
	kindMeta  = "consents-meta"
	versionID = "version"
)

// versionSync is a Service's view of the version record.
type versionSync struct {
	mu      sync.Mutex
	checked time.Time // when the version was last read (wall clock)
	// version is the one the cache was loaded at; "" at New, so that the
	// first read after a start loads once more what changed meanwhile.
	version string
}

// versioned is a RecordStore that reads records back (records.Store):
// one that does not is taken to be this process's alone, never refreshed.
type versioned interface {
	Get(ctx context.Context, kind, id string, v any) error
}

func readVersion(ctx context.Context, g versioned) (string, error) {
	var v string
	err := g.Get(ctx, kindMeta, versionID, &v)
	if errors.Is(err, records.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// bump records that consents changed, for the other gateways.
func (s *Service) bump(ctx context.Context) error {
	if _, ok := s.rec.(versioned); !ok {
		return nil
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	// vsync.version is left alone: this gateway reloads too, and so sees
	// what another wrote just before (whose version this one overwrote).
	return s.rec.Put(ctx, kindMeta, versionID, hex.EncodeToString(b[:]))
}

// refresh reloads the consents when another gateway changed them; a
// failed read keeps what is cached. Consents are never deleted (a
// revocation rewrites one), so indexing every stored consent again over
// the cache makes it the stored state.
func (s *Service) refresh(ctx context.Context) {
	g, ok := s.rec.(versioned)
	if !ok {
		return
	}
	vs := &s.vsync
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if time.Since(vs.checked) < refreshEvery {
		return
	}
	v, err := readVersion(ctx, g)
	if err != nil {
		return
	}
	vs.checked = time.Now()
	if v == vs.version {
		return
	}
	fresh, err := New(ctx, s.rec, s.now)
	if err != nil {
		return
	}
	s.mu.Lock()
	for _, c := range fresh.byID {
		s.index(c)
	}
	s.mu.Unlock()
	vs.version = v
}
