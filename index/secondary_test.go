package index

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/imgcloud/gateway/dcm"
)

func putStudy(t *testing.T, db *DB, study, series, sop, modality string, st dcm.Dataset) {
	t.Helper()
	err := db.PutInstance(NewInstance{
		Instance:    &Instance{Study: study, Series: series, SOP: sop, Key: "k/" + sop},
		Meta:        []byte("x"),
		SeriesAttrs: attrs("00080060", modality),
		StudyAttrs:  st,
		Modality:    modality,
		Received:    time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func uids(t *testing.T, db *DB, kind Kind, value string, exact bool) []string {
	t.Helper()
	var out []string
	if err := db.ScanKey(kind, value, exact, func(c Cursor) bool { out = append(out, c.UID); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func order(t *testing.T, db *DB, from string) []string {
	t.Helper()
	var out []string
	if err := db.ScanOrder(from, func(c Cursor) bool { out = append(out, c.UID); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func studyAttrs(date, tm, pid, acc string, name dcm.PersonName) dcm.Dataset {
	ds := attrs("00080020", date, "00080030", tm, "00100020", pid, "00080050", acc)
	ds["00100010"] = &dcm.Element{VR: "PN", Value: []any{name}}
	return ds
}

// TestSecondaryKeys is the conformance test of the secondary keys: they are
// written with the study row, follow its modalities, stream in QIDO order
// (newest first, then UID, a study without a date last), are removed with
// the last instance, and are rebuilt at Open from an index of the older
// layout, with the counts.
func TestSecondaryKeys(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	zhang := dcm.PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}
	putStudy(t, db, "1.1", "1.1.1", "1.1.1.1", "CT", studyAttrs("20240101", "0900", "P1", "A1", zhang))
	putStudy(t, db, "1.2", "1.2.1", "1.2.1.1", "MR", studyAttrs("20250101", "", "P1", "A2", zhang))
	putStudy(t, db, "1.3", "1.3.1", "1.3.1.1", "CT", studyAttrs("20240101", "090000.5", "P2", "A3", dcm.PersonName{Alphabetic: "Li^Na"}))
	putStudy(t, db, "1.4", "1.4.1", "1.4.1.1", "CT", studyAttrs("", "", "P2", "A4", dcm.PersonName{Alphabetic: "Li^Lei"}))
	putStudy(t, db, "1.0", "1.0.1", "1.0.1.1", "CT", studyAttrs("20240101", "0900", "P3", "A5", dcm.PersonName{}))
	// A second series adds a modality to a study's keys.
	putStudy(t, db, "1.1", "1.1.2", "1.1.2.1", "PT", nil)
	putStudy(t, db, "1.1", "1.1.2", "1.1.2.2", "PT", nil)
	if err := db.DeleteInstance("1.1", "1.1.2", "1.1.2.2"); err != nil {
		t.Fatal(err)
	}
	// The cached series lists follow every write.
	if ss := db.SeriesOf("1.1"); len(ss) != 2 || ss[0].UID != "1.1.1" || ss[1].UID != "1.1.2" || ss[1].Instances != 1 {
		t.Fatalf("series of 1.1: %+v", ss)
	}

	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	// "li" prefixes the whole, group and first word of both Li studies:
	// keys in value order, each study more than once.
	got := uids(t, db, KindName, "li", false)
	slices.Sort(got)
	check("name prefix li", slices.Compact(got), []string{"1.3", "1.4"})

	verifyAll := func(db *DB) {
		t.Helper()
		check("order", order(t, db, ""), []string{"1.2", "1.3", "1.0", "1.1", "1.4"})
		check("order from 20240101", order(t, db, "20240101"), []string{"1.3", "1.0", "1.1", "1.4"})
		check("PatientID P1", uids(t, db, KindPatientID, "P1", true), []string{"1.2", "1.1"})
		check("Accession A3", uids(t, db, KindAccession, "A3", true), []string{"1.3"})
		check("modality PT", uids(t, db, KindModality, "PT", true), []string{"1.1"})
		check("modality CT", uids(t, db, KindModality, "CT", true), []string{"1.3", "1.0", "1.1", "1.4"})
		check("name whole", uids(t, db, KindName, "zhang^wei=张^伟", true), []string{"1.2", "1.1"})
		check("name group", uids(t, db, KindName, "张^伟", true), []string{"1.2", "1.1"})
		check("name word", uids(t, db, KindName, "伟", true), []string{"1.2", "1.1"})
		check("whole name only", uids(t, db, Whole(KindName), "张", false), nil)
		check("whole name", uids(t, db, Whole(KindName), "zhang^wei=张^伟", true), []string{"1.2", "1.1"})
		if n := db.Estimate(KindModality, "CT", true, 3); n != 3 {
			t.Errorf("estimate capped at 3: %d", n)
		}
		if s, se, in := db.Counts(); s != 5 || se != 6 || in != 6 {
			t.Errorf("counts %d %d %d, want 5 6 6", s, se, in)
		}
	}
	verifyAll(db)

	// Removing the PT series removes the study's PT key; removing a
	// study's last instance removes all its keys.
	if err := db.DeleteInstance("1.1", "1.1.2", "1.1.2.1"); err != nil {
		t.Fatal(err)
	}
	check("modality PT after delete", uids(t, db, KindModality, "PT", true), nil)
	if err := db.DeleteInstance("1.3", "1.3.1", "1.3.1.1"); err != nil {
		t.Fatal(err)
	}
	check("order after delete", order(t, db, ""), []string{"1.2", "1.0", "1.1", "1.4"})
	check("Accession A3 after delete", uids(t, db, KindAccession, "A3", true), nil)
	if s, se, in := db.Counts(); s != 4 || se != 4 || in != 4 {
		t.Errorf("counts after delete %d %d %d, want 4 4 4", s, se, in)
	}
	putStudy(t, db, "1.1", "1.1.2", "1.1.2.1", "PT", nil)
	putStudy(t, db, "1.3", "1.3.1", "1.3.1.1", "CT", studyAttrs("20240101", "090000.5", "P2", "A3", dcm.PersonName{Alphabetic: "Li^Na"}))
	verifyAll(db)

	// An index of the older layout (rows only) is upgraded at Open.
	if err := db.bdb.DropPrefix([]byte(prefixSecondary), []byte(keyFormat), []byte(keyCounts)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	verifyAll(db)
	err = db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyFormat))
		if err != nil {
			return err
		}
		v, _ := item.ValueCopy(nil)
		if string(v) != formatVersion {
			return fmt.Errorf("format %q", v)
		}
		return nil
	})
	if err != nil {
		t.Errorf("format after upgrade: %v", err)
	}
}

// TestCachesStayFreshUnderConcurrentWrites: readers filling the row caches
// while writers add instances never leave a stale study or series row in
// them: afterwards the cached counts are those of the instance rows.
func TestCachesStayFreshUnderConcurrentWrites(t *testing.T) {
	db, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const studies, perWriter, writers = 8, 60, 4
	done := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				uid := fmt.Sprintf("1.%d", (i+r)%studies)
				_, _ = db.Study(uid)
				_ = db.SeriesOf(uid)
			}
		}()
	}
	var ws sync.WaitGroup
	for w := range writers {
		ws.Add(1)
		go func() {
			defer ws.Done()
			for i := range perWriter {
				st := fmt.Sprintf("1.%d", i%studies)
				se := fmt.Sprintf("%s.%d", st, i%3)
				if err := db.PutInstance(NewInstance{
					Instance:    &Instance{Study: st, Series: se, SOP: fmt.Sprintf("%s.%d.%d", se, w, i)},
					Meta:        []byte("x"),
					SeriesAttrs: attrs("00080060", "CT"), StudyAttrs: attrs("00080020", "20240101"), Modality: "CT",
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	ws.Wait()
	close(done)
	readers.Wait()
	total := 0
	for s := range studies {
		uid := fmt.Sprintf("1.%d", s)
		ins, err := db.Instances(uid, "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.Study(uid)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, se := range db.SeriesOf(uid) {
			n += se.Instances
		}
		if st.Instances != len(ins) || n != len(ins) || st.Series != len(db.SeriesOf(uid)) {
			t.Errorf("study %s: cached row says %d instances in %d series, series rows %d, instance rows %d", uid, st.Instances, st.Series, n, len(ins))
		}
		total += len(ins)
	}
	if _, _, in := db.Counts(); in != total || total != writers*perWriter {
		t.Errorf("counts %d, rows %d, written %d", in, total, writers*perWriter)
	}
}

// TestDescriptionWords: StudyDescription is keyed by every position of its
// case-folded words, cut to four runes (two for CJK), and a pattern's
// probes are prefixes of those keys that find every study it matches.
func TestDescriptionWords(t *testing.T) {
	got := descWords(&dcm.Element{VR: "LO", Value: []any{"胸部CT平扫 w/o"}})
	want := []string{"胸部", "部", "ct", "t", "平扫", "扫", "w", "o"}
	if !slices.Equal(got, want) {
		t.Errorf("descWords: %q, want %q", got, want)
	}
	if got := descWords(&dcm.Element{VR: "LO", Value: []any{"Contrast"}}); !slices.Equal(got, []string{"cont", "ontr", "ntra", "tras", "rast", "ast", "st", "t"}) {
		t.Errorf("descWords(Contrast): %q", got)
	}
	for pat, want := range map[string][]string{
		"*chest*": {"ches"}, "*CT平扫*": {"ct", "平扫"}, "ch?st": {"ch", "st"}, "*": nil, "*/*": nil, "*扫": {"扫"},
	} {
		if got := WordProbes(pat); !slices.Equal(got, want) {
			t.Errorf("WordProbes(%q): %q, want %q", pat, got, want)
		}
	}

	db, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, d := range []string{"CT CHEST", "Chest X-ray", "MR brain", "胸部CT平扫"} {
		st := studyAttrs("20240101", "0900", "P1", "A1", dcm.PersonName{})
		st["00081030"] = &dcm.Element{VR: "LO", Value: []any{d}}
		putStudy(t, db, fmt.Sprintf("1.%d", i), fmt.Sprintf("1.%d.1", i), fmt.Sprintf("1.%d.1.1", i), "CT", st)
	}
	for probe, want := range map[string][]string{"ches": {"1.0", "1.1"}, "hest": {"1.0", "1.1"}, "ct": {"1.0", "1.3"}, "平扫": {"1.3"}, "rai": {"1.2"}} {
		got := uids(t, db, KindWord, probe, false)
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, want) {
			t.Errorf("word keys from %q: %v, want %v", probe, got, want)
		}
	}
}

// TestScanMergedSortsOrMerges: a name prefix streams its studies in QIDO
// order, each once, whether its keys are few enough to be sorted or so
// many that one cursor per value is merged, and a limit stops either.
func TestScanMergedSortsOrMerges(t *testing.T) {
	db, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 60 studies under 7 names starting with "wang", some with a Han group
	// that also matches a Han probe; 10 under another surname.
	for i := 0; i < 70; i++ {
		name := dcm.PersonName{Alphabetic: fmt.Sprintf("Wang^G%d", i%7), Ideographic: "王^" + fmt.Sprint(i%3)}
		if i >= 60 {
			name = dcm.PersonName{Alphabetic: fmt.Sprintf("Li^G%d", i%7)}
		}
		uid := fmt.Sprintf("1.%d", i)
		putStudy(t, db, uid, uid+".1", uid+".1.1", "CT", studyAttrs(fmt.Sprintf("202401%02d", 1+i%28), fmt.Sprintf("%02d00", i%24), "P", "A", name))
	}
	var want []string
	for _, uid := range order(t, db, "") {
		var n int
		fmt.Sscanf(uid, "1.%d", &n)
		if n < 60 {
			want = append(want, uid)
		}
	}
	probes := []Probe{{Value: FoldName("wang")}, {Value: FoldName("王")}}
	for _, collect := range []int{collectMax, 5} {
		db.collect = collect
		var got []string
		merged, err := db.ScanMerged(KindName, probes, 100, func(c Cursor) bool { got = append(got, c.UID); return true })
		if err != nil || !merged {
			t.Fatalf("collect %d: merged %v, %v", collect, merged, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("collect %d:\n got %v\nwant %v", collect, got, want)
		}
		got = got[:0]
		if _, err := db.ScanMerged(KindName, probes, 100, func(c Cursor) bool { got = append(got, c.UID); return len(got) < 9 }); err != nil || !slices.Equal(got, want[:9]) {
			t.Fatalf("collect %d, stopped at 9: got %v (%v), want %v", collect, got, err, want[:9])
		}
		if merged, _ := db.ScanMerged(KindName, probes, 3, func(Cursor) bool { t.Fatal("called past maxValues"); return false }); merged {
			t.Fatalf("collect %d: merged with more values than maxValues", collect)
		}
	}
}
