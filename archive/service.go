package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/storage"
)

// BasePlaceholder stands for the DICOMweb service root in precomputed
// metadata (BulkDataURI, RetrieveURL); responses replace it with the root
// the client used, so URIs stay right behind a reverse proxy.
const BasePlaceholder = "@@BASE@@"

// Options configure a Service.
type Options struct {
	// MaxInstanceBytes bounds one stored instance (default 4 GiB).
	MaxInstanceBytes int64
	// TempDir is where STOW parts are spooled (default os.TempDir()).
	TempDir string
	Limits  dcm.Limits
	// DefaultCharset is the character set of text in files that name none
	// (or one their bytes do not fit), for senders Charsets knows no
	// default for: the global --default-charset. See dcm.Limits.
	DefaultCharset string
	// Charsets, when set, gives the storing party's default character set.
	Charsets Charsets
	Logger   *slog.Logger
	// Annotators add attributes to study-level answers for the asking
	// party (the recognition tag is one).
	Annotators []Annotator
	// Observers are told about studies that received instances.
	Observers []Observer
	// Admission, when set, may refuse an instance before it is stored
	// (a PACS storing for another institution).
	Admission Admission
	// SpaceDirs are the folders whose volumes must keep MinFreeBytes free
	// for a store to be accepted (the index folder, the spool folder and,
	// with the file store, the objects folder).
	SpaceDirs    []string
	MinFreeBytes int64
	// Visibility hides the studies the asking party may not see: they are
	// left out of searches and are "not found" on retrieval, so their
	// existence does not leak. Without one nothing is visible (fail
	// closed); offline tools and tests that serve no one say Unrestricted.
	Visibility Visibility
	// MaxExamined bounds the rows one search examines (0:
	// DefaultMaxExamined): candidate studies, and below the study level
	// their series or instances. A query no key narrows
	// (StudyDescription=*a*) stops there with the page found so far and
	// a Warning naming narrower keys, or, when it found nothing, an
	// InvalidError saying so, instead of holding a core for a scan of the
	// whole archive. An offset must be below it.
	MaxExamined int
	// DefaultLimit is the page of a search that names no limit and is
	// not within one study (0: DefaultPageLimit); past it Result.More is set, and the Warning
	// that more results exist tells the client to ask with offset.
	DefaultLimit int
	// Codecs decode (and encode) compressed pixel data for frames and
	// instances asked for in another transfer syntax than the stored one;
	// nil serves everything as stored only.
	Codecs *codec.Set
	// Compression, when set, says in which lossless syntax the storing
	// party wants native pixel data stored (compress.go); Codecs must
	// then have its encoder, or files are stored as received.
	Compression Compression
	// DecodedCacheBytes bounds the memory of recently decoded frames
	// (0: DefaultDecodedCacheBytes; negative: no cache).
	DecodedCacheBytes int64
}

// DefaultPageLimit is Options.DefaultLimit unless set: what a study list
// without limit answers, as other archives bound it (Google's Healthcare
// API and Azure's DICOM service answer 100 studies, dcm4chee refuses past
// its configured maximum), so that a search of a province's archive
// without limit costs what a page costs, not an answer of thousands of
// studies built, sent and decoded. Viewers page with limit (OHIF asks for
// 25-101, the built-in list for 100).
const DefaultPageLimit = 100

// DefaultMaxExamined is Options.MaxExamined unless set: about a second of
// one core with cold rows (a study row decodes in about 50 µs).
const DefaultMaxExamined = 20000

// Visibility decides whether the party in ctx may see a study
// (access.Visibility).
type Visibility interface {
	Visible(ctx context.Context, st *index.Study) bool
}

// Unrestricted is the Visibility of offline tools (fsck, reindex) and of
// tests that serve no one: every study is visible to every party.
type Unrestricted struct{}

// Visible reports true.
func (Unrestricted) Visible(context.Context, *index.Study) bool { return true }

// SeesAll reports true (AllVisible).
func (Unrestricted) SeesAll(context.Context) bool { return true }

// Annotator adds attributes (for example a private block) to QIDO study
// answers and to metadata, for the party asking (see auth.FromContext).
type Annotator interface {
	AnnotateStudy(ctx context.Context, st *index.Study) dcm.Dataset
}

// Admission decides whether the party in ctx may store an instance whose
// data set is ds; an error refuses it (FailureReason 0x0124, not
// authorised) with the error's text.
type Admission interface {
	Admit(ctx context.Context, ds dcm.Dataset) error
}

// Observer is told, after the index was synced, which studies received
// instances in a request.
type Observer interface {
	StudyStored(ctx context.Context, study string)
}

// Service is the archive.
type Service struct {
	store storage.Store
	db    index.Store
	opt   Options
	log   *slog.Logger
	now   func() time.Time
	// sopLocks serialise stores of the same SOP Instance UID, so that a
	// check-then-store cannot race into a silent overwrite.
	sopLocks [64]sync.Mutex
	// holder names this service in the index's leases (claim.go).
	holder string
	// shared: the index serves several gateways (an index.Leaser), so
	// objects are durable before their rows (putObject).
	shared bool
	// bufs recycles the memory STOW parts are spooled in (see spool.go).
	// A channel rather than a sync.Pool: a pool is emptied by every other
	// garbage collection, and a fresh buffer of megabytes must be zeroed.
	bufs chan *[]byte
	// scanAll makes searches scan the order key instead of planning
	// (tests compare the two).
	scanAll bool
	// planCap and mergeMax are estimateCap and maxMergedValues; tests
	// lower them to reach every plan with few studies.
	planCap, mergeMax int
	answers           *answerCache
	pages             sync.Pool // *[]byte: encoded QIDO pages, reused (Result.Release)
	// studiesRead counts the study rows searches read (tests see how far
	// a plan walked).
	studiesRead atomic.Int64
	// rowsRead counts the study, series and instance rows searches read.
	rowsRead atomic.Int64
	// decoded holds recently decoded frames (transcode.go); decodeSlots
	// bounds the decodes running at once.
	decoded     *frameCache
	decodeSlots chan struct{}
	// compress counts what compression at ingest did (compress.go).
	compress compressStats
}

// New returns a Service over a store and an index.
func New(store storage.Store, db index.Store, opt Options) *Service {
	if opt.MaxInstanceBytes <= 0 {
		opt.MaxInstanceBytes = 4 << 30
	}
	if opt.TempDir == "" {
		opt.TempDir = os.TempDir()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxExamined <= 0 {
		opt.MaxExamined = DefaultMaxExamined
	}
	if opt.DefaultLimit <= 0 || opt.DefaultLimit > MaxLimit {
		opt.DefaultLimit = DefaultPageLimit
	}
	s := &Service{store: store, db: db, opt: opt, log: opt.Logger, now: time.Now, planCap: estimateCap, mergeMax: maxMergedValues, answers: newAnswerCache()}
	s.holder = newHolder()
	_, s.shared = db.(index.Leaser)
	s.bufs = make(chan *[]byte, spoolBuffers)
	if opt.DecodedCacheBytes == 0 {
		opt.DecodedCacheBytes = DefaultDecodedCacheBytes
	}
	s.decoded = newFrameCache(opt.DecodedCacheBytes)
	s.decodeSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	return s
}

// Commit makes every instance stored so far durable (Sync) and then tells
// the observers which studies received instances (Notify). STOW calls it
// once per request before answering, so concurrent requests share the
// syncs.
func (s *Service) Commit(ctx context.Context, stored []*Stored) error {
	if err := s.Sync(ctx); err != nil {
		return err
	}
	s.Notify(ctx, stored)
	return nil
}

// Sync makes every instance stored so far durable: its object and its
// index row, and the checkpoint past them.
func (s *Service) Sync(ctx context.Context) error {
	// The objects moved in since the last commit and the index are
	// synced at the same time (each sync is a few fsyncs the disk queues
	// together); only then does the checkpoint say that rows up to seq
	// have durable objects. Syncing the index before its objects opens no
	// new crash state: Badger may write its log to disk at any time, and
	// Recover drops rows past the checkpoint whose objects are missing.
	seq := s.db.Seq()
	objErr := make(chan error, 1)
	if m, ok := s.store.(storage.Mover); ok {
		go func() { objErr <- m.Sync(ctx) }()
	} else {
		objErr <- nil
	}
	ierr := s.db.Sync()
	if err := <-objErr; err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if ierr != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ierr)
	}
	if err := s.db.SetCheckpoint(seq); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Notify tells the observers, once per study, which studies received
// instances (duplicates aside), with the party in ctx as the one who
// stored them. Call it after Sync.
func (s *Service) Notify(ctx context.Context, stored []*Stored) {
	seen := map[string]bool{}
	for _, st := range stored {
		if seen[st.Study] || st.Duplicate {
			continue
		}
		seen[st.Study] = true
		for _, o := range s.opt.Observers {
			o.StudyStored(ctx, st.Study)
		}
	}
}

// checkSpace refuses new data while a volume is nearly full: Badger maps
// its write-ahead files into memory, and a write into such a mapping on a
// full disk kills the process (SIGBUS) instead of returning an error.
func (s *Service) checkSpace() error {
	for _, dir := range s.opt.SpaceDirs {
		free, err := diskspace.Free(dir)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if free < s.opt.MinFreeBytes {
			s.log.Error("disk almost full: refusing new instances", "dir", dir, "free_bytes", free, "min_free_bytes", s.opt.MinFreeBytes)
			return fmt.Errorf("%w: disk almost full (%d bytes free under %s, %d required)", ErrUnavailable, free, dir, s.opt.MinFreeBytes)
		}
	}
	return nil
}

// visible applies the Visibility rule.
func (s *Service) visible(ctx context.Context, st *index.Study) bool {
	return s.opt.Visibility != nil && s.opt.Visibility.Visible(ctx, st)
}

// errStudyNotFound is the one answer for a study that does not exist and
// for one the asking party may not see: the same text (without the UID)
// on every route, so that answers cannot tell the two apart.
var errStudyNotFound = fmt.Errorf("study %w: it does not exist or is not visible to you", ErrNotFound)

// checkStudy returns errStudyNotFound for a study that does not exist or
// that the asking party may not see.
func (s *Service) checkStudy(ctx context.Context, study string) error {
	_, err := s.visibleStudy(ctx, study)
	return err
}

// visibleStudy is checkStudy that returns the study row it read, for a
// caller that needs it too (one read of the index, not two).
func (s *Service) visibleStudy(ctx context.Context, study string) (*index.Study, error) {
	st, err := s.db.Study(study)
	if errors.Is(err, index.ErrNotFound) || (err == nil && !s.visible(ctx, st)) {
		return nil, errStudyNotFound
	}
	if err != nil {
		return nil, mapIndexErr(err)
	}
	return st, nil
}

// Recover runs at start: rows written after the last checkpoint may
// belong to objects that a machine crash did not let reach the disk (they
// were never acknowledged); such rows are dropped, so the index never
// lists an instance whose object is missing. It returns how many rows it
// checked and dropped. The checkpoint advances at every commit (each STOW
// request, each DIMSE group), so after a crash the rows are those of the
// requests then under way; the objects are checked recoverWorkers at a
// time, in batches of recoverBatch rows, so that an old checkpoint (an
// index written by a tool) costs seconds, not a minute, and bounded
// memory.
func (s *Service) Recover(ctx context.Context) (checked, dropped int, err error) {
	cp, err := s.db.Checkpoint()
	if err != nil {
		return 0, 0, err
	}
	var bad []*index.Instance
	var batch []*index.Instance
	check := func() error {
		lost := make([]bool, len(batch))
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range min(recoverWorkers, len(batch)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(batch); i = int(next.Add(1) - 1) {
					oi, err := s.store.Stat(ctx, batch[i].Key)
					switch {
					case errors.Is(err, storage.ErrNotFound):
						lost[i] = true
					case err != nil:
						errs[i] = mapStoreErr(err)
					case oi.Size != batch[i].Size:
						lost[i] = true
					}
				}
			}()
		}
		wg.Wait()
		for i, in := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			if lost[i] {
				bad = append(bad, in)
			}
		}
		checked += len(batch)
		if checked%(10*recoverBatch) == 0 {
			s.log.Info("recover: checking rows written since the last checkpoint", "rows", checked)
		}
		batch = batch[:0]
		return nil
	}
	err = s.db.RowsAfter(cp, func(in *index.Instance) error {
		if batch = append(batch, in); len(batch) == recoverBatch {
			return check()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = check()
	}
	if err != nil {
		return checked, 0, err
	}
	for _, in := range bad {
		if err := s.db.DeleteInstance(in.Study, in.Series, in.SOP); err != nil {
			return checked, dropped, err
		}
		s.log.Warn("recover: dropped a row whose object did not survive", "key", in.Key)
		dropped++
	}
	if err := s.Commit(ctx, nil); err != nil {
		return checked, dropped, err
	}
	return checked, dropped, nil
}

// Recover checks recoverBatch rows at a time, recoverWorkers objects at
// once (object stores answer a stat in a round trip; files in a system
// call).
const (
	recoverBatch   = 1000
	recoverWorkers = 16
)

// annotate adds the annotators' attributes for a study to into.
func (s *Service) annotate(ctx context.Context, st *index.Study, into dcm.Dataset) {
	for _, a := range s.opt.Annotators {
		for t, e := range a.AnnotateStudy(ctx, st) {
			into[t] = e
		}
	}
}

// Ready reports whether object storage answers (a missing probe object is
// an answer).
func (s *Service) Ready(ctx context.Context) error {
	_, err := s.store.Stat(ctx, "health/probe")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return mapStoreErr(err)
	}
	// An index on a database server (replicas on PostgreSQL) can be away.
	if p, ok := s.db.(interface{ Ping(context.Context) error }); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// mapIndexErr turns index errors into domain errors.
func mapIndexErr(err error) error {
	if errors.Is(err, index.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// mapStoreErr turns storage errors into domain errors.
func mapStoreErr(err error) error {
	// Unavailable first: a missing bucket is both "unavailable" and "not
	// found" to the store, and for callers it is an outage, not a 404.
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
