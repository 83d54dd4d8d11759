package recognition

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/corpustest"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// corpusToday anchors the test corpus: study dates fall in the 60 days
// before it.
var corpusToday = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// testCorpus generates, once per test binary, studies derived from the
// real files of github.com/suyashkumar/dicom. Seed 6 attributes them to
// hospitals in Jiangsu and Shanghai (both Yangtze River Delta), Beijing,
// Hunan and Liaoning.
func testCorpus(t *testing.T) *corpus.Manifest {
	t.Helper()
	return corpustest.Shared(t, corpus.Options{
		Studies: 8, SeriesPerStudy: 2, InstancesPerSeries: 2, Big: 4, Seed: 6, Today: corpusToday,
	})
}

func TestMain(m *testing.M) { corpustest.Main(m) }

// fixture is a recognition service over an archive holding the corpus.
type fixture struct {
	db    *index.DB
	store *storagetest.Memory
	rec   *records.Store
	svc   *Service
	man   *corpus.Manifest
	now   time.Time
}

// newFixture stores the corpus (all studies, or those keep accepts)
// through the archive, with the sample registry and default catalogue
// loaded first, so the eligibility check runs at ingest.
func newFixture(t *testing.T, keep func(corpus.Study) bool) *fixture {
	t.Helper()
	ctx := context.Background()
	man := testCorpus(t)
	dir := t.TempDir()
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := storagetest.NewMemory()
	fx := &fixture{db: db, store: store, rec: records.New(store, db), man: man, now: corpusToday.Add(24 * time.Hour)}
	fx.svc, err = New(ctx, db, fx.rec, Options{Now: func() time.Time { return fx.now }, PersonKeySecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	importDefaults(t, fx.svc)
	arc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}, Observers: []archive.Observer{fx.svc}, Annotators: []archive.Annotator{fx.svc}})
	for _, st := range man.Studies() {
		if keep != nil && !keep(st) {
			continue
		}
		var stored []*archive.Stored
		for _, f := range st.Files() {
			fh, err := os.Open(man.Abs(f))
			if err != nil {
				t.Fatal(err)
			}
			s, err := arc.Store(ctx, fh, "")
			fh.Close()
			if err != nil {
				t.Fatalf("store %s: %v", f.Path, err)
			}
			stored = append(stored, s)
		}
		if err := arc.Commit(ctx, stored); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// study returns the UID of the corpus study of a modality held by the
// institution id (through the sample registry's names).
func (fx *fixture) study(t *testing.T, modality, institution string) string {
	t.Helper()
	st := fx.svc.state()
	for _, s := range fx.man.Studies() {
		in := st.byName[nameKey(s.InstitutionName)]
		if s.Series[0].Modality == modality && in != nil && in.ID == institution {
			return s.StudyUID
		}
	}
	t.Fatalf("corpus has no %s study of %s", modality, institution)
	return ""
}

// at returns noon, China time, of the YYYY-MM-DD day plus n days.
func at(t *testing.T, iso string, n int) time.Time {
	t.Helper()
	d, err := parseISODate(iso)
	if err != nil {
		t.Fatal(err)
	}
	return d.AddDate(0, 0, n).Add(12 * time.Hour)
}

// importDefaults loads the sample registry and the default catalogue.
func importDefaults(t *testing.T, svc *Service) *RegistryFile {
	t.Helper()
	reg, err := ExampleRegistry()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Import(context.Background(), reg, cat); err != nil {
		t.Fatal(err)
	}
	return reg
}

// emptyService is a Service over an empty index and store (returned
// too), on the day of the corpus.
func emptyService(t *testing.T) (*Service, *index.DB, *storagetest.Memory) {
	t.Helper()
	db, err := index.Open(index.Options{Dir: filepath.Join(t.TempDir(), "index")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := storagetest.NewMemory()
	svc, err := New(context.Background(), db, records.New(store, db), Options{Now: func() time.Time { return corpusToday }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, db, store
}
