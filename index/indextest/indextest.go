// Package indextest is the conformance suite of index.Store: every
// backend (the Badger index.DB, index/postgres) runs Run and must pass it
// unchanged, as object stores run storage/storagetest.
package indextest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Run runs the suite; open returns a new, empty index for one subtest
// (closed by the suite).
func Run(t *testing.T, open func(t *testing.T) index.Store) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, db index.Store)
	}{
		{"Instances", testInstances},
		{"Received", testReceived},
		{"Delete", testDelete},
		{"Metadata", testMetadata},
		{"SecondaryKeys", testSecondaryKeys},
		{"Merged", testMerged},
		{"Holding", testHolding},
		{"Records", testRecords},
		{"WriteRecords", testWriteRecords},
		{"ConcurrentAppends", testConcurrentAppends},
		{"UpdateRecord", testUpdateRecord},
		{"Feed", testFeed},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"ConcurrentStudy", testConcurrentStudy},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := open(t)
			t.Cleanup(func() {
				if err := db.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			c.fn(t, db)
		})
	}
}

func attrs(kv ...string) dcm.Dataset {
	ds := dcm.Dataset{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			ds[kv[i]] = &dcm.Element{VR: "CS", Value: []any{kv[i+1]}}
		}
	}
	return ds
}

var received = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// inst is one instance to put: the series and instance numbers order
// the rows, the study attributes seed a new study row.
type inst struct {
	study, series, sop, modality string
	seriesNo, instNo             string
	studyAttrs                   dcm.Dataset
	received                     time.Time
}

func (i inst) put(db index.Store) error {
	r := i.received
	if r.IsZero() {
		r = received
	}
	ia := attrs("00200013", i.instNo)
	return db.PutInstance(index.NewInstance{
		Instance: &index.Instance{Study: i.study, Series: i.series, SOP: i.sop, Attrs: ia,
			Key: "k/" + i.sop, Size: int64(len(i.sop)), CRC32C: "c" + i.sop, TransferSyntax: "1.2.840.10008.1.2.1"},
		Meta:        []byte(`{"sop":"` + i.sop + `"}`),
		SeriesAttrs: attrs("00080060", i.modality, "00200011", i.seriesNo),
		StudyAttrs:  i.studyAttrs,
		Modality:    i.modality,
		Received:    r,
	})
}

// testReceived: the row of an instance compressed at ingest keeps what
// was received (size, checksum, syntax, data set digest) through every
// read: by SOP, by path, in listings, and in the ExistsError of a second
// store, which is what duplicate detection compares.
func testReceived(t *testing.T, db index.Store) {
	want := index.Received{Size: 5 << 30, CRC32C: "0a1b2c3d", TransferSyntax: "1.2.840.10008.1.2", DataSetSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	row := func() *index.Instance {
		return &index.Instance{Study: "2.1", Series: "2.1.1", SOP: "2.1.1.1", Attrs: attrs("00200013", "1"),
			Key: "k/2.1.1.1", Size: 1234, CRC32C: "deadbeef", TransferSyntax: "1.2.840.10008.1.2.4.80",
			Frames:   dcm.FrameTable{Encapsulated: true, Frames: [][]dcm.Range{{{Offset: 400, Length: 834}}}},
			Received: &index.Received{Size: want.Size, CRC32C: want.CRC32C, TransferSyntax: want.TransferSyntax, DataSetSHA256: want.DataSetSHA256}}
	}
	put := func() error {
		return db.PutInstance(index.NewInstance{Instance: row(), Meta: []byte(`{}`), SeriesAttrs: attrs("00080060", "CT"), Modality: "CT", Received: received})
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	same := func(what string, in *index.Instance) {
		t.Helper()
		if in.Received == nil || *in.Received != want || in.Size != 1234 || in.CRC32C != "deadbeef" {
			t.Errorf("%s: size %d crc %s received %+v, want 1234 deadbeef %+v", what, in.Size, in.CRC32C, in.Received, want)
		}
	}
	in, err := db.InstanceBySOP("2.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	same("by SOP", in)
	if in, err = db.Instance("2.1", "2.1.1", "2.1.1.1"); err != nil {
		t.Fatal(err)
	}
	same("by path", in)
	list, err := db.Instances("2.1", "")
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	same("listed", list[0])
	var ex *index.ExistsError
	if err := put(); !errors.As(err, &ex) {
		t.Fatalf("second put: %v", err)
	}
	same("existing", ex.Existing)
	// A row without it stays without it.
	mustPut(t, db, inst{study: "2.2", series: "2.2.1", sop: "2.2.1.1", modality: "MR", instNo: "1"})
	if in, err := db.InstanceBySOP("2.2.1.1"); err != nil || in.Received != nil {
		t.Errorf("plain row: %+v %v", in, err)
	}
}

func mustPut(t *testing.T, db index.Store, ins ...inst) {
	t.Helper()
	for _, i := range ins {
		if err := i.put(db); err != nil {
			t.Fatalf("put %s: %v", i.sop, err)
		}
	}
}

func check[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func counts(t *testing.T, db index.Store, studies, series, instances int) {
	t.Helper()
	if s, se, in := db.Counts(); s != studies || se != series || in != instances {
		t.Errorf("counts %d %d %d, want %d %d %d", s, se, in, studies, series, instances)
	}
}

func sops(ins []*index.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.SOP)
	}
	return out
}

// testInstances: rows, their computed study and series fields, the
// orders of listings, a duplicate, and misses.
func testInstances(t *testing.T, db index.Store) {
	sa := attrs("00080020", "20240101", "00100020", "P1")
	mustPut(t, db,
		inst{study: "1.1", series: "1.1.2", sop: "1.1.2.1", modality: "PT", seriesNo: "2", instNo: "1", studyAttrs: sa},
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.10", modality: "CT", seriesNo: "1", instNo: "2", studyAttrs: sa},
		// An earlier arrival (reindex meets objects out of order) moves Received back.
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.9", modality: "CT", seriesNo: "1", instNo: "1", studyAttrs: sa, received: received.Add(-time.Hour)},
		inst{study: "1.2", series: "1.2.1", sop: "1.2.1.1", modality: "MR", seriesNo: "1", instNo: "1", studyAttrs: attrs("00080020", "20250101")},
	)
	counts(t, db, 2, 3, 4)

	var ex *index.ExistsError
	err := inst{study: "1.1", series: "1.1.1", sop: "1.1.1.9", modality: "CT", studyAttrs: sa}.put(db)
	if !errors.Is(err, index.ErrExists) || !errors.As(err, &ex) || ex.Existing.Key != "k/1.1.1.9" || ex.Existing.CRC32C != "c1.1.1.9" {
		t.Fatalf("duplicate: %v (existing %+v)", err, ex)
	}
	// A conflicting duplicate (same SOP in another study) changes nothing.
	if err := (inst{study: "9.9", series: "9.9.1", sop: "1.1.1.9", modality: "CT"}).put(db); !errors.As(err, &ex) || ex.Existing.Study != "1.1" {
		t.Fatalf("conflicting duplicate: %v", err)
	}
	if _, err := db.Study("9.9"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("a refused duplicate made a study: %v", err)
	}
	counts(t, db, 2, 3, 4)

	st, err := db.Study("1.1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Series != 2 || st.Instances != 3 || st.UID != "1.1" || st.Attrs.String("00100020") != "P1" {
		t.Errorf("study row %+v", st)
	}
	check(t, "modalities", st.Modalities, []string{"CT", "PT"})
	if !st.Received.Equal(received.Add(-time.Hour)) {
		t.Errorf("received %v, want the earliest %v", st.Received, received.Add(-time.Hour))
	}
	// A page of candidates read at once: in the order asked, nil for a
	// study not indexed, a UID asked twice answered twice.
	page, err := db.Studies([]string{"1.2", "9.9", "1.1", "1.2"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range page {
		if st == nil {
			got = append(got, "-")
			continue
		}
		got = append(got, fmt.Sprintf("%s:%d", st.UID, st.Instances))
	}
	check(t, "studies of a page", got, []string{"1.2:1", "-", "1.1:3", "1.2:1"})
	if page, err := db.Studies(nil); err != nil || len(page) != 0 {
		t.Errorf("studies of no UID: %v, %v", page, err)
	}
	var series []string
	for _, se := range db.SeriesOf("1.1") {
		series = append(series, fmt.Sprintf("%s:%d", se.UID, se.Instances))
	}
	check(t, "series by number", series, []string{"1.1.1:2", "1.1.2:1"})
	bySt, err := db.SeriesOfStudies([]string{"1.1", "7.7", "1.2"})
	if err != nil {
		t.Fatal(err)
	}
	var of11, of12 []string
	for _, se := range bySt["1.1"] {
		of11 = append(of11, se.UID)
	}
	for _, se := range bySt["1.2"] {
		of12 = append(of12, se.UID)
	}
	check(t, "series of studies: 1.1 by number", of11, []string{"1.1.1", "1.1.2"})
	check(t, "series of studies: 1.2", of12, []string{"1.2.1"})
	if _, ok := bySt["7.7"]; ok || len(bySt) != 2 {
		t.Errorf("series of studies: %d studies, a missing one listed: %v", len(bySt), ok)
	}
	if se, err := db.OneSeries("1.1", "1.1.2"); err != nil || se.Attrs.String("00080060") != "PT" {
		t.Errorf("one series: %+v, %v", se, err)
	}
	if _, err := db.OneSeries("1.1", "1.1.9"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("missing series: %v", err)
	}
	if ss := db.SeriesOf("7.7"); len(ss) != 0 {
		t.Errorf("series of a missing study: %v", ss)
	}
	ins, err := db.Instances("1.1", "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "instances of study", sops(ins), []string{"1.1.1.9", "1.1.1.10", "1.1.2.1"})
	ins, _ = db.Instances("1.1", "1.1.1")
	check(t, "instances of series", sops(ins), []string{"1.1.1.9", "1.1.1.10"})
	ins, _ = db.Instances("1.1", "1.1")
	check(t, "instances of a series that is a UID prefix", sops(ins), nil)

	in, err := db.Instance("1.1", "1.1.1", "1.1.1.10")
	if err != nil || in.Key != "k/1.1.1.10" || in.Size != 8 || in.TransferSyntax != "1.2.840.10008.1.2.1" || in.Attrs.String("00200013") != "2" || in.Seq == 0 {
		t.Errorf("instance: %+v, %v", in, err)
	}
	if in, err := db.InstanceBySOP("1.2.1.1"); err != nil || in.Study != "1.2" || in.Series != "1.2.1" {
		t.Errorf("by SOP: %+v, %v", in, err)
	}
	for _, err := range []error{
		func() error { _, err := db.Instance("1.1", "1.1.1", "1.1.1.1"); return err }(),
		func() error { _, err := db.InstanceBySOP("1.1.1"); return err }(),
		func() error { _, err := db.Study("1"); return err }(),
	} {
		if !errors.Is(err, index.ErrNotFound) {
			t.Errorf("miss: %v, want ErrNotFound", err)
		}
	}
	var all []string
	if err := db.AllInstances(func(in *index.Instance) (bool, error) { all = append(all, in.SOP); return true, nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	check(t, "all instances", all, []string{"1.1.1.10", "1.1.1.9", "1.1.2.1", "1.2.1.1"})
	n := 0
	if err := db.AllInstances(func(*index.Instance) (bool, error) { n++; return false, nil }); err != nil || n != 1 {
		t.Errorf("all instances stops: %d, %v", n, err)
	}
	stop := errors.New("stop")
	if err := db.AllInstances(func(*index.Instance) (bool, error) { return true, stop }); !errors.Is(err, stop) {
		t.Errorf("all instances returns fn's error: %v", err)
	}
}

// testDelete: counts, series and study rows and modalities follow
// deletions; a missing row is ErrNotFound.
func testDelete(t *testing.T, db index.Store) {
	sa := attrs("00080020", "20240101")
	mustPut(t, db,
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.1", modality: "CT", studyAttrs: sa},
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.2", modality: "CT", studyAttrs: sa},
		inst{study: "1.1", series: "1.1.2", sop: "1.1.2.1", modality: "PT", studyAttrs: sa},
	)
	before, _ := db.Study("1.1")
	if err := db.DeleteInstance("1.1", "1.1.1", "1.1.1.2"); err != nil {
		t.Fatal(err)
	}
	counts(t, db, 1, 2, 2)
	st, _ := db.Study("1.1")
	if st.Instances != 2 || st.Series != 2 || st.Version == before.Version {
		t.Errorf("after one delete: %+v (version before %d)", st, before.Version)
	}
	if err := db.DeleteInstance("1.1", "1.1.2", "1.1.2.1"); err != nil {
		t.Fatal(err)
	}
	counts(t, db, 1, 1, 1)
	st, _ = db.Study("1.1")
	check(t, "modalities after the PT series went", st.Modalities, []string{"CT"})
	if ss := db.SeriesOf("1.1"); len(ss) != 1 || ss[0].UID != "1.1.1" {
		t.Errorf("series after delete: %+v", ss)
	}
	if _, err := db.InstanceBySOP("1.1.2.1"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("deleted instance by SOP: %v", err)
	}
	if err := db.Metadata("1.1", "1.1.2", "1.1.2.1", func([]byte) error { return nil }); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("metadata of a deleted instance: %v", err)
	}
	if err := db.DeleteInstance("1.1", "1.1.1", "1.1.1.9"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("delete of a missing row: %v", err)
	}
	if err := db.DeleteInstance("5.5", "5.5.1", "5.5.1.1"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("delete in a missing study: %v", err)
	}
	if err := db.DeleteInstance("1.1", "1.1.1", "1.1.1.1"); err != nil {
		t.Fatal(err)
	}
	counts(t, db, 0, 0, 0)
	if _, err := db.Study("1.1"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("study after its last instance: %v", err)
	}
	if got := order(t, db, ""); len(got) != 0 {
		t.Errorf("order keys of a removed study: %v", got)
	}
	// The SOP Instance UID may be stored again.
	mustPut(t, db, inst{study: "1.1", series: "1.1.1", sop: "1.1.1.1", modality: "MR", studyAttrs: sa})
	counts(t, db, 1, 1, 1)
}

func testMetadata(t *testing.T, db index.Store) {
	mustPut(t, db,
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.1", modality: "CT"},
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.10", modality: "CT"},
		inst{study: "1.1", series: "1.1.2", sop: "1.1.2.1", modality: "CT"},
		inst{study: "1.10", series: "1.10.1", sop: "1.10.1.1", modality: "CT"},
	)
	meta := func(study, series, sop string) ([]string, error) {
		var out []string
		err := db.Metadata(study, series, sop, func(m []byte) error { out = append(out, string(m)); return nil })
		slices.Sort(out)
		return out, err
	}
	m := func(sop string) string { return `{"sop":"` + sop + `"}` }
	got, err := meta("1.1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "study", got, []string{m("1.1.1.1"), m("1.1.1.10"), m("1.1.2.1")})
	got, _ = meta("1.1", "1.1.1", "")
	check(t, "series", got, []string{m("1.1.1.1"), m("1.1.1.10")})
	got, _ = meta("1.1", "1.1.1", "1.1.1.1")
	check(t, "instance (not its UID's extensions)", got, []string{m("1.1.1.1")})
	if _, err := meta("1.1", "1.1.3", ""); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("missing series: %v", err)
	}
	if _, err := meta("1.1", "1.1.1", "1.1.1.2"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("missing instance: %v", err)
	}
	stop := errors.New("stop")
	if err := db.Metadata("1.1", "", "", func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
}

func scanKey(t *testing.T, db index.Store, kind index.Kind, value string, exact bool) []string {
	t.Helper()
	var out []string
	if err := db.ScanKey(kind, value, exact, func(c index.Cursor) bool { out = append(out, c.UID); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func order(t *testing.T, db index.Store, from string) []string {
	t.Helper()
	var out []string
	if err := db.ScanOrder(from, func(c index.Cursor) bool { out = append(out, c.UID); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func studyAttrs(date, tm, pid, acc string, name dcm.PersonName) dcm.Dataset {
	ds := attrs("00080020", date, "00080030", tm, "00100020", pid, "00080050", acc)
	ds["00100010"] = &dcm.Element{VR: "PN", Value: []any{name}}
	return ds
}

// keysFixture is the studies of the key tests: dates that sort them
// (one without any), names with ideographic groups, two modalities.
func keysFixture(t *testing.T, db index.Store) {
	zhang := dcm.PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}
	mustPut(t, db,
		inst{study: "1.1", series: "1.1.1", sop: "1.1.1.1", modality: "CT", studyAttrs: studyAttrs("20240101", "0900", "P1", "A1", zhang)},
		inst{study: "1.2", series: "1.2.1", sop: "1.2.1.1", modality: "MR", studyAttrs: studyAttrs("20250101", "", "P1", "A2", zhang)},
		inst{study: "1.3", series: "1.3.1", sop: "1.3.1.1", modality: "CT", studyAttrs: studyAttrs("20240101", "090000.5", "P2", "A3", dcm.PersonName{Alphabetic: "Li^Na"})},
		inst{study: "1.4", series: "1.4.1", sop: "1.4.1.1", modality: "CT", studyAttrs: studyAttrs("", "", "P2", "A4", dcm.PersonName{Alphabetic: "Li^Lei"})},
		inst{study: "1.0", series: "1.0.1", sop: "1.0.1.1", modality: "CT", studyAttrs: studyAttrs("20240101", "0900", "P3", "A5", dcm.PersonName{})},
		inst{study: "1.1", series: "1.1.2", sop: "1.1.2.1", modality: "PT"},
	)
}

// testSecondaryKeys: the keys follow the study rows and stream in QIDO
// order (newest first, then UID; a study without a date last).
func testSecondaryKeys(t *testing.T, db index.Store) {
	keysFixture(t, db)
	check(t, "order", order(t, db, ""), []string{"1.2", "1.3", "1.0", "1.1", "1.4"})
	check(t, "order from 20240101", order(t, db, "20240101"), []string{"1.3", "1.0", "1.1", "1.4"})
	check(t, "order from 2024", order(t, db, "2024"), []string{"1.3", "1.0", "1.1", "1.4"})
	check(t, "order from 20231231", order(t, db, "20231231"), []string{"1.4"})
	check(t, "PatientID P1", scanKey(t, db, index.KindPatientID, "P1", true), []string{"1.2", "1.1"})
	check(t, "PatientID P", scanKey(t, db, index.KindPatientID, "P", true), nil)
	check(t, "Accession A3", scanKey(t, db, index.KindAccession, "A3", true), []string{"1.3"})
	check(t, "modality PT", scanKey(t, db, index.KindModality, "PT", true), []string{"1.1"})
	check(t, "modality CT", scanKey(t, db, index.KindModality, "CT", true), []string{"1.3", "1.0", "1.1", "1.4"})
	check(t, "name whole", scanKey(t, db, index.KindName, "zhang^wei=张^伟", true), []string{"1.2", "1.1"})
	check(t, "name group", scanKey(t, db, index.KindName, "张^伟", true), []string{"1.2", "1.1"})
	check(t, "name word", scanKey(t, db, index.KindName, "伟", true), []string{"1.2", "1.1"})
	check(t, "whole name only", scanKey(t, db, index.Whole(index.KindName), "张", false), nil)
	check(t, "whole name", scanKey(t, db, index.Whole(index.KindName), "zhang^wei=张^伟", true), []string{"1.2", "1.1"})
	// A prefix scan streams in value order, then QIDO order: the word
	// "li" (both Li studies), then the whole names "li^lei" and "li^na".
	check(t, "name prefix li", scanKey(t, db, index.KindName, "li", false), []string{"1.3", "1.4", "1.4", "1.3"})
	check(t, "PatientID prefix P", scanKey(t, db, index.KindPatientID, "P", false), []string{"1.2", "1.1", "1.3", "1.4", "1.0"})

	var cs []index.Cursor
	if err := db.ScanKey(index.KindModality, "CT", true, func(c index.Cursor) bool { cs = append(cs, c); return len(cs) < 2 }); err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("scan stops when fn says: %d cursors", len(cs))
	}
	st, _ := db.Study("1.3")
	if cs[0] != index.OrderOf(st) || cs[0].DateTime != "20240101090000.5" || cs[1].UID != "1.0" || cs[0].Order >= cs[1].Order {
		t.Errorf("cursors %+v, want %+v first and ascending orders", cs, index.OrderOf(st))
	}
	n := 0
	if err := db.ScanOrder("", func(index.Cursor) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("order scan stops: %d, %v", n, err)
	}
	for _, c := range []struct {
		kind  index.Kind
		value string
		exact bool
		max   int
		want  int
	}{
		{index.KindModality, "CT", true, 3, 3},
		{index.KindModality, "CT", true, 100, 4},
		{index.KindModality, "C", false, 100, 4},
		{index.KindName, "li", false, 100, 4},
		{index.KindPatientID, "P9", true, 100, 0},
	} {
		if n := db.Estimate(c.kind, c.value, c.exact, c.max); n != c.want {
			t.Errorf("estimate %s %q exact=%v max %d: %d, want %d", c.kind, c.value, c.exact, c.max, n, c.want)
		}
	}

	for _, c := range []struct {
		from, to  string
		max, want int
	}{
		{"", "", 100, 5},                 // every study, the one without a date too
		{"20241231", "20240101", 100, 3}, // a range of days
		{"", "20250101", 100, 1},         // a date without a time is at its day
		{"20240101", "20240101", 2, 2},   // capped
		{"20231231", "20230101", 100, 0}, // none: the study without a date is below any
		{"20231231", "", 100, 1},         // only it
		{"2024", "2024", 100, 3},         // a year
	} {
		if n := db.EstimateOrder(c.from, c.to, c.max); n != c.want {
			t.Errorf("estimate order %q..%q max %d: %d, want %d", c.from, c.to, c.max, n, c.want)
		}
	}

	// Removing the PT series removes the study's PT key; removing a
	// study's last instance removes all its keys.
	if err := db.DeleteInstance("1.1", "1.1.2", "1.1.2.1"); err != nil {
		t.Fatal(err)
	}
	check(t, "modality PT after delete", scanKey(t, db, index.KindModality, "PT", true), nil)
	if err := db.DeleteInstance("1.3", "1.3.1", "1.3.1.1"); err != nil {
		t.Fatal(err)
	}
	check(t, "order after delete", order(t, db, ""), []string{"1.2", "1.0", "1.1", "1.4"})
	check(t, "accession after delete", scanKey(t, db, index.KindAccession, "A3", true), nil)
	check(t, "name after delete", scanKey(t, db, index.KindName, "li^na", true), nil)
	counts(t, db, 4, 4, 4)
}

// testMerged: ScanMerged and ScanUnion stream each study once, in QIDO
// order, and ScanMerged declines past maxValues having called nothing.
func testMerged(t *testing.T, db index.Store) {
	keysFixture(t, db)
	merged := func(kind index.Kind, max int, probes ...index.Probe) ([]string, bool) {
		t.Helper()
		var out []string
		ok, err := db.ScanMerged(kind, probes, max, func(c index.Cursor) bool { out = append(out, c.UID); return true })
		if err != nil {
			t.Fatal(err)
		}
		return out, ok
	}
	got, ok := merged(index.KindName, 10, index.Probe{Value: "li"})
	if !ok {
		t.Fatal("li within 10 values declined")
	}
	check(t, "merged li", got, []string{"1.3", "1.4"})
	got, _ = merged(index.KindName, 10, index.Probe{Value: "li"}, index.Probe{Value: "伟", Exact: true})
	check(t, "merged li or 伟", got, []string{"1.2", "1.3", "1.1", "1.4"})
	got, _ = merged(index.KindName, 10, index.Probe{Value: "wang", Exact: true})
	check(t, "merged nothing", got, nil)
	// "li" covers three values: li, li^lei, li^na.
	if got, ok := merged(index.KindName, 2, index.Probe{Value: "li"}); ok || got != nil {
		t.Errorf("3 values over a max of 2: %v, %v; want declined, nothing called", got, ok)
	}
	if _, ok := merged(index.KindName, 3, index.Probe{Value: "li"}); !ok {
		t.Error("3 values within a max of 3 declined")
	}
	n := 0
	if _, err := db.ScanMerged(index.KindModality, []index.Probe{{Value: "CT", Exact: true}}, 5, func(index.Cursor) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("merged scan stops: %d, %v", n, err)
	}

	var union []string
	err := db.ScanUnion([]index.Key{{Kind: index.KindPatientID, Value: "P1"}, {Kind: index.KindModality, Value: "CT"}, {Kind: index.KindAccession, Value: "A1"}},
		func(c index.Cursor) bool { union = append(union, c.UID); return true })
	if err != nil {
		t.Fatal(err)
	}
	check(t, "union", union, []string{"1.2", "1.3", "1.0", "1.1", "1.4"})
	union = nil
	_ = db.ScanUnion([]index.Key{{Kind: index.KindPatientID, Value: "P1"}, {Kind: index.KindModality, Value: "CT"}},
		func(c index.Cursor) bool { union = append(union, c.UID); return len(union) < 2 })
	check(t, "union stops", union, []string{"1.2", "1.3"})
}

// testHolding: every study has one holding key, "" until SetHolding.
func testHolding(t *testing.T, db index.Store) {
	keysFixture(t, db)
	check(t, "holding none", scanKey(t, db, index.KindHolding, "", true), []string{"1.2", "1.3", "1.0", "1.1", "1.4"})
	if err := db.SetHolding("1.3", "inst-a"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHolding("1.1", "inst-a"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHolding("1.1", "inst-a"); err != nil {
		t.Fatal(err)
	}
	check(t, "holding inst-a", scanKey(t, db, index.KindHolding, "inst-a", true), []string{"1.3", "1.1"})
	check(t, "holding none after", scanKey(t, db, index.KindHolding, "", true), []string{"1.2", "1.0", "1.4"})
	if st, _ := db.Study("1.1"); st.Holding != "inst-a" || st.Instances != 2 {
		t.Errorf("study row after holding: %+v", st)
	}
	// A new instance keeps the holding.
	mustPut(t, db, inst{study: "1.1", series: "1.1.3", sop: "1.1.3.1", modality: "SR"})
	check(t, "holding after a put", scanKey(t, db, index.KindHolding, "inst-a", true), []string{"1.3", "1.1"})
	if err := db.SetHolding("1.1", ""); err != nil {
		t.Fatal(err)
	}
	check(t, "holding moved back", scanKey(t, db, index.KindHolding, "inst-a", true), []string{"1.3"})
	if err := db.SetHolding("4.4", "x"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("holding of a missing study: %v", err)
	}
}

func testRecords(t *testing.T, db index.Store) {
	if err := db.PutRecord("tok", "b", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRecord("tok", "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRecord("tok", "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRecord("tok", "a", []byte("again")); !errors.Is(err, index.ErrExists) {
		t.Errorf("create twice: %v", err)
	}
	if err := db.PutRecord("tokx", "c", []byte("other kind")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRecord("to", "k", []byte("shorter kind")); err != nil {
		t.Fatal(err)
	}
	v, err := db.GetRecord("tok", "b")
	if err != nil || string(v) != "2" {
		t.Errorf("get: %q, %v", v, err)
	}
	v[0] = 'x' // a copy: the stored value stays
	if v, _ := db.GetRecord("tok", "b"); string(v) != "2" {
		t.Errorf("get returned shared bytes: %q", v)
	}
	if v, _ := db.GetRecord("tok", "a"); string(v) != "a" {
		t.Errorf("a create that failed replaced the record: %q", v)
	}
	if _, err := db.GetRecord("tok", "z"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	list := func(kind string) []string {
		var out []string
		if err := db.Records(kind, func(id string, v []byte) error { out = append(out, id+"="+string(v)); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check(t, "records of tok", list("tok"), []string{"a=a", "b=2"})
	check(t, "records of none", list("none"), nil)
	stop := errors.New("stop")
	if err := db.Records("tok", func(string, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("records returns fn's error: %v", err)
	}
	if id, v, err := db.LastRecord("tok"); err != nil || id != "b" || string(v) != "2" {
		t.Errorf("last: %q %q %v", id, v, err)
	}
	if id, _, err := db.LastRecord("none"); err != nil || id != "" {
		t.Errorf("last of none: %q %v", id, err)
	}
	if err := db.DeleteRecord("tok", "b"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRecord("tok", "b"); err != nil {
		t.Errorf("delete of a missing record: %v", err)
	}
	check(t, "after delete", list("tok"), []string{"a=a"})

	err = db.UpdateRecords(func(set func(kind, id string, v []byte) error) error {
		if err := set("ev", "1", []byte("one")); err != nil {
			return err
		}
		if err := set("head", "h", []byte("1")); err != nil {
			return err
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("update returns fn's error: %v", err)
	}
	check(t, "a failed update stored nothing", append(list("ev"), list("head")...), nil)
	err = db.UpdateRecords(func(set func(kind, id string, v []byte) error) error {
		if err := set("ev", "2", []byte("two")); err != nil {
			return err
		}
		return set("head", "h", []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "update", append(list("ev"), list("head")...), []string{"2=two", "h=2"})
	if err := db.CheckSpace(); err != nil {
		t.Errorf("check space: %v", err)
	}
}

// testFeed: every write takes a sequence number, RowsAfter replays
// the rows after one in order, the checkpoint never goes back.
func testFeed(t *testing.T, db index.Store) {
	if cp, err := db.Checkpoint(); err != nil || cp != 0 {
		t.Fatalf("checkpoint of a new index: %d, %v", cp, err)
	}
	var seqs []uint64
	for _, sop := range []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"} {
		mustPut(t, db, inst{study: "1.1", series: "1.1.1", sop: sop, modality: "CT"})
		seqs = append(seqs, db.Seq())
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("sequence numbers not increasing: %v", seqs)
		}
	}
	if in, _ := db.InstanceBySOP("1.1.1.2"); in.Seq != seqs[1] {
		t.Errorf("row seq %d, Seq() said %d", in.Seq, seqs[1])
	}
	if err := db.DeleteInstance("1.1", "1.1.1", "1.1.1.3"); err != nil {
		t.Fatal(err)
	}
	after := func(seq uint64) []string {
		var out []string
		if err := db.RowsAfter(seq, func(in *index.Instance) error { out = append(out, in.SOP); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check(t, "rows after 0", after(0), []string{"1.1.1.1", "1.1.1.2", "1.1.1.4"})
	check(t, "rows after the second", after(seqs[1]), []string{"1.1.1.4"})
	check(t, "rows after the last", after(db.Seq()), nil)
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCheckpoint(seqs[2]); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCheckpoint(seqs[0]); err != nil {
		t.Fatal(err)
	}
	if cp, err := db.Checkpoint(); err != nil || cp != seqs[2] {
		t.Errorf("checkpoint %d, %v; want %d (never back)", cp, err, seqs[2])
	}
}

// testConcurrentDuplicates: the same SOP Instance UID stored at once by
// many writers is indexed once: one success, every other an ExistsError.
func testConcurrentDuplicates(t *testing.T, db index.Store) {
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			errs[w] = inst{study: "1.1", series: "1.1.1", sop: "1.1.1.1", modality: "CT"}.put(db)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var ex *index.ExistsError
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &ex):
			t.Errorf("a duplicate answered %v, want an ExistsError", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d writers succeeded, want 1", ok)
	}
	counts(t, db, 1, 1, 1)
	if st, _ := db.Study("1.1"); st == nil || st.Instances != 1 {
		t.Errorf("study row %+v", st)
	}
}

// testConcurrentStudy: writers adding instances to the same studies at
// once lose no count (the study and series rows are read and written in
// one transaction).
func testConcurrentStudy(t *testing.T, db index.Store) {
	const studies, perWriter, writers = 3, 20, 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				st := fmt.Sprintf("1.%d", i%studies)
				se := fmt.Sprintf("%s.%d", st, i%2)
				mod := []string{"CT", "MR"}[i%2]
				if err := (inst{study: st, series: se, sop: fmt.Sprintf("%s.%d.%d", se, w, i), modality: mod, studyAttrs: attrs("00080020", "20240101")}).put(db); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
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
		if st.Instances != len(ins) || n != len(ins) || st.Series != 2 || len(st.Modalities) != 2 {
			t.Errorf("study %s: row says %d instances in %d series (%v), series rows %d, instance rows %d", uid, st.Instances, st.Series, st.Modalities, n, len(ins))
		}
		total += len(ins)
	}
	counts(t, db, studies, 2*studies, writers*perWriter)
	if total != writers*perWriter {
		t.Errorf("rows %d, written %d", total, writers*perWriter)
	}
}

// testWriteRecords: create refuses an existing record and then stores
// nothing of its transaction; set replaces.
func testWriteRecords(t *testing.T, db index.Store) {
	write := func(creates []string, head string) error {
		return db.WriteRecords(func(set, create func(kind, id string, v []byte) error) error {
			for _, id := range creates {
				if err := create("ev", id, []byte("v"+id)); err != nil {
					return err
				}
			}
			return set("meta", "head", []byte(head))
		})
	}
	if err := write([]string{"1", "2"}, "2"); err != nil {
		t.Fatal(err)
	}
	if err := write([]string{"3", "2"}, "3"); !errors.Is(err, index.ErrExists) {
		t.Fatalf("create of an existing record: %v, want ErrExists", err)
	}
	if _, err := db.GetRecord("ev", "3"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("a refused transaction stored its first create: %v", err)
	}
	if v, _ := db.GetRecord("meta", "head"); string(v) != "2" {
		t.Errorf("head after a refused transaction: %q", v)
	}
	if err := write([]string{"3"}, "3"); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.GetRecord("meta", "head"); string(v) != "3" {
		t.Errorf("head: %q", v)
	}
}

// testConcurrentAppends: writers appending numbered records at once,
// each taking the next number after the last and trying again when
// another took it, lose nothing and number nothing twice (the audit
// trail of several replicas).
func testConcurrentAppends(t *testing.T, db index.Store) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				for attempt := 0; ; attempt++ {
					last, _, err := db.LastRecord("seq")
					if err != nil {
						t.Error(err)
						return
					}
					n := 0
					fmt.Sscanf(last, "%08d", &n)
					id := fmt.Sprintf("%08d", n+1)
					err = db.WriteRecords(func(set, create func(kind, id string, v []byte) error) error {
						if err := create("seq", id, []byte(fmt.Sprintf("%d/%d", w, i))); err != nil {
							return err
						}
						return set("seq-head", "head", []byte(id))
					})
					if err == nil {
						break
					}
					if !errors.Is(err, index.ErrExists) || attempt > 1000 {
						t.Errorf("append: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var ids []string
	seen := map[string]bool{}
	if err := db.Records("seq", func(id string, v []byte) error {
		ids = append(ids, id)
		if seen[string(v)] {
			t.Errorf("%s appended twice", v)
		}
		seen[string(v)] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != writers*each || ids[len(ids)-1] != fmt.Sprintf("%08d", writers*each) {
		t.Errorf("%d records, last %v; want %d numbered without gaps", len(ids), ids[len(ids)-1:], writers*each)
	}
}

// testUpdateRecord: concurrent read-modify-writes of one record lose no
// update (a share link's use count across replicas); fn's error stores
// nothing; a missing record is ErrNotFound.
func testUpdateRecord(t *testing.T, db index.Store) {
	if err := db.UpdateRecord("share", "x", func(old []byte) ([]byte, error) { return old, nil }); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("update of a missing record: %v", err)
	}
	if err := db.PutRecord("share", "x", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := db.UpdateRecord("share", "x", func(old []byte) ([]byte, error) {
					var n int
					fmt.Sscan(string(old), &n)
					return []byte(fmt.Sprint(n + 1)), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _ := db.GetRecord("share", "x"); string(v) != fmt.Sprint(writers*each) {
		t.Errorf("count %s after %d increments", v, writers*each)
	}
	stop := errors.New("stop")
	if err := db.UpdateRecord("share", "x", func([]byte) ([]byte, error) { return []byte("lost"), stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
	if v, _ := db.GetRecord("share", "x"); string(v) != fmt.Sprint(writers*each) {
		t.Errorf("a failed update stored %s", v)
	}
}
