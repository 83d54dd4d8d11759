package recognition

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
)

// Record kinds (records/{kind}/{id}.json in object storage).
const (
	kindInstitutions = "institutions"
	kindRegions      = "regions"
	kindCatalogue    = "catalogue"
	kindEligibility  = "eligibility"
	kindDecisions    = "decisions"
	kindPersons      = "persons"
	kindPatientLinks = "patient-links"
)

// Options configure a Service.
type Options struct {
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// PersonKeySecret keys the hash that turns national identifiers into
	// person keys (see LoadOrCreateSecret). Person links are refused
	// without one.
	PersonKeySecret []byte
	// Rand is the source of decision ids (default crypto/rand).
	Rand   io.Reader
	Logger *slog.Logger
	// Consents, when set (consent.Service), hide what the visibility
	// rule hides (access.Visible, over this service's facts) and the
	// uncovered results of order checks. Without it nothing is hidden:
	// tests of the registry and the tag alone.
	Consents access.Consents
}

// Service is mutual recognition over the index and the records store. It
// is an archive.Annotator (the private block) and an archive.Observer (the
// eligibility check at ingest).
type Service struct {
	db  Index
	rec *records.Store
	opt Options
	log *slog.Logger
	// st is the current snapshot; edit serialises the edits that replace it.
	st   atomic.Pointer[state]
	edit sync.Mutex
	// deciding serialises decisions (see Decide).
	deciding sync.Mutex
	// links serialises person link updates.
	links sync.Mutex
	// checkLocks serialise the eligibility checks of a study (see checkLock).
	checkLocks [64]sync.Mutex
	// claims maps the UID of a study whose first check has not run yet to
	// the studyClaim of the PACS that stores it (see Admit).
	claims     sync.Map
	claimCount atomic.Int64
	// visibility, when set, hides the studies the asking party may not
	// see (Options.Consents).
	visibility *access.Visibility
	// eligCache maps study UID to its stored *Eligibility.
	eligCache sync.Map
	eligCount atomic.Int64
	// blocks caches computed private blocks (see AnnotateStudy).
	blocks     sync.Map
	blockCount atomic.Int64
	// version keeps the snapshot and the eligibility cache in step with
	// other gateways on the same index (replicas.go).
	version *records.Version
}

// Index is what recognition needs of the index (index.Store implements
// it): study and series rows, holding keys, and studies by patient.
type Index interface {
	Study(uid string) (*index.Study, error)
	SeriesOf(study string) []*index.Series
	Instances(study, series string) ([]*index.Instance, error)
	SetHolding(study, institution string) error
	ScanKey(kind index.Kind, value string, exact bool, fn func(index.Cursor) bool) error
	HoldingsMark() (string, error)
	SetHoldingsMark(mark string) error
}

// New returns a Service with the registry and catalogue read from the
// records store.
func New(ctx context.Context, db Index, rec *records.Store, opt Options) (*Service, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, rec: rec, opt: opt, log: opt.Logger, version: rec.Version(versionName)}
	if opt.Consents != nil {
		s.visibility = access.NewVisibility(s, opt.Consents)
	}
	insts, err := listRecords[Institution](ctx, rec, kindInstitutions)
	if err != nil {
		return nil, err
	}
	regions, err := listRecords[Region](ctx, rec, kindRegions)
	if err != nil {
		return nil, err
	}
	items, err := listRecords[Item](ctx, rec, kindCatalogue)
	if err != nil {
		return nil, err
	}
	s.st.Store(newState(insts, regions, items))
	return s, nil
}

// listRecords decodes every record of a kind.
func listRecords[T any](ctx context.Context, rec *records.Store, kind string) ([]*T, error) {
	var out []*T
	err := rec.List(ctx, kind, func(id string, raw []byte) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode %s/%s: %w", kind, id, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kind, err)
	}
	return out, nil
}

// state returns the current snapshot (another gateway's edit reloaded).
func (s *Service) state() *state {
	s.refresh(context.Background())
	return s.st.Load()
}

// Counts returns how many institutions, regions and catalogue items are
// loaded.
func (s *Service) Counts() (institutions, regions, items int) {
	st := s.state()
	return len(st.institutions), len(st.regions), len(st.items)
}

// facts reads the facts of a stored study.
func (s *Service) facts(study string) (*Facts, error) {
	st, err := s.db.Study(study)
	if errors.Is(err, index.ErrNotFound) {
		return nil, notFoundf("study %s", study)
	}
	if err != nil {
		return nil, err
	}
	return factsOf(st, s.db.SeriesOf(study)), nil
}

// eligibility returns the stored outcome of the ingest check, or nil.
// Outcomes are read on every QIDO study row, so they are cached in memory
// (a few hundred bytes per study, bounded); callers treat them as read-only.
func (s *Service) eligibility(ctx context.Context, study string) *Eligibility {
	e, err := s.storedEligibility(ctx, study)
	if err != nil {
		s.log.Warn("read eligibility", "study", study, "err", err)
	}
	return e
}

// storedEligibility is eligibility with the read error: nil and nil when
// no check is recorded. Decisions about the holding institution need to
// tell "never checked" from "could not read".
func (s *Service) storedEligibility(ctx context.Context, study string) (*Eligibility, error) {
	s.refresh(ctx)
	if e, ok := s.eligCache.Load(study); ok {
		return e.(*Eligibility), nil
	}
	var e Eligibility
	if err := s.rec.Get(ctx, kindEligibility, study, &e); err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("read eligibility %s: %w", study, err)
	}
	s.cacheEligibility(study, &e)
	return &e, nil
}

// cacheEligibility remembers an outcome, starting the cache afresh when it
// holds maxCachedBlocks entries so that it cannot grow without end.
func (s *Service) cacheEligibility(study string, e *Eligibility) {
	if s.eligCount.Add(1) > maxCachedBlocks {
		s.eligCache.Clear()
		s.eligCount.Store(0)
	}
	s.eligCache.Store(study, e)
}

// Tag computes the recognition tag of a stored study for the asking
// institution ("" to leave the region check out). An asking institution
// that is not registered is an ErrNotFound, and so is a study the party in
// ctx may not see (see Options.Consents).
func (s *Service) Tag(ctx context.Context, study, asking string) (Tag, error) {
	if asking != "" {
		if _, ok := s.state().institutions[asking]; !ok {
			return Tag{}, notFoundf("institution %s", asking)
		}
	}
	row, err := s.visibleStudy(ctx, study)
	if err != nil {
		return Tag{}, err
	}
	f := factsOf(row, s.db.SeriesOf(study))
	return s.state().evaluate(f, s.eligibility(ctx, study), asking, s.opt.Now()), nil
}

// Eligibility returns the stored outcome of the ingest check of a study
// the party in ctx may see.
func (s *Service) Eligibility(ctx context.Context, study string) (*Eligibility, error) {
	if _, err := s.visibleStudy(ctx, study); err != nil {
		return nil, err
	}
	e := s.eligibility(ctx, study)
	if e == nil {
		return nil, notFoundf("no eligibility check is recorded for study %s", study)
	}
	return e, nil
}
