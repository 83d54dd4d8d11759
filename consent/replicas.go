package consent

import (
	"context"
	"sync"

	"github.com/imgcloud/gateway/records"
)

// With several gateways on one index each caches every consent. Every
// Grant and Revoke bumps the consents' records.Version; a gateway that
// finds another's version reloads (reading it at most every
// records.CheckEvery), so that a consent revoked through one replica stops
// counting on the others within about a second.

// versionName names the consents' version record.
const versionName = "consents"

// versionSync is a Service's records.Version, made on first use; a
// RecordStore other than a records.Store is taken to be this process's
// alone, never refreshed.
type versionSync struct {
	once sync.Once
	v    *records.Version
}

func (s *Service) version() *records.Version {
	s.vsync.once.Do(func() {
		if st, ok := s.rec.(*records.Store); ok {
			s.vsync.v = st.Version(versionName)
		}
	})
	return s.vsync.v
}

// bump records that consents changed, for the other gateways.
func (s *Service) bump(ctx context.Context) error {
	if v := s.version(); v != nil {
		return v.Bump(ctx)
	}
	return nil
}

// refresh reloads the consents when another gateway changed them; a
// failed read keeps what is cached. Consents are never deleted (a
// revocation rewrites one), so indexing every stored consent again over
// the cache makes it the stored state.
func (s *Service) refresh(ctx context.Context) {
	v := s.version()
	if v == nil {
		return
	}
	v.Check(ctx, func(ctx context.Context) error {
		fresh, err := New(ctx, s.rec, s.now)
		if err != nil {
			return err
		}
		s.mu.Lock()
		for _, c := range fresh.byID {
			s.index(c)
		}
		s.mu.Unlock()
		return nil
	})
}
