package index

import (
	"errors"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
)

func attrs(kv ...string) dcm.Dataset {
	ds := dcm.Dataset{}
	for i := 0; i < len(kv); i += 2 {
		ds[kv[i]] = &dcm.Element{VR: "CS", Value: []any{kv[i+1]}}
	}
	return ds
}

func put(t *testing.T, db *DB, study, series, sop, modality string) error {
	t.Helper()
	return db.PutInstance(NewInstance{
		Instance:    &Instance{Study: study, Series: series, SOP: sop, Key: "k/" + sop, SHA256: "h" + sop},
		Meta:        []byte("x"),
		SeriesAttrs: attrs("00080060", modality),
		StudyAttrs:  attrs("00080020", "20261125"),
		Modality:    modality,
		Received:    time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
}

// TestCountsSurviveReopen checks computed counts and modalities across
// inserts, a duplicate, deletions and a reopen of the same directory.
func TestCountsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][4]string{{"1.1", "1.1.1", "1.1.1.1", "CT"}, {"1.1", "1.1.1", "1.1.1.2", "CT"}, {"1.1", "1.1.2", "1.1.2.1", "PT"}} {
		if err := put(t, db, c[0], c[1], c[2], c[3]); err != nil {
			t.Fatal(err)
		}
	}
	var ex *ExistsError
	if err := put(t, db, "1.1", "1.1.1", "1.1.1.1", "CT"); !errors.As(err, &ex) || ex.Existing.SHA256 != "h1.1.1.1" {
		t.Fatalf("duplicate: %v", err)
	}
	st, _ := db.Study("1.1")
	if st.Series != 2 || st.Instances != 3 || len(st.Modalities) != 2 {
		t.Fatalf("study row %+v", st)
	}
	if err := db.DeleteInstance("1.1", "1.1.2", "1.1.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, _ = db.Study("1.1")
	if st.Series != 1 || st.Instances != 2 || len(st.Modalities) != 1 || st.Modalities[0] != "CT" {
		t.Fatalf("after delete and reopen: %+v", st)
	}
	if _, err := db.InstanceBySOP("1.1.2.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted instance still found: %v", err)
	}
	if ins, _ := db.Instances("1.1", ""); len(ins) != 2 {
		t.Fatalf("instances: %d", len(ins))
	}
	if err := db.DeleteInstance("1.1", "1.1.9", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing row: %v", err)
	}
}
