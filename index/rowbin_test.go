package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

// TestStudyRowBinaryDecodesAsJSON: a study row in the binary encoding
// decodes to what the JSON row decoded to (the values matchers and answers
// read), for rows built from the real files (sequences, binary values,
// person names, numbers) and edge cases; a row cut short is an error, not a
// panic.
func TestStudyRowBinaryDecodesAsJSON(t *testing.T) {
	dir, err := corpus.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, st *Study) {
		t.Helper()
		js, err := st.appendJSON(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want Study
		if err := decodeStudy(js, &want); err != nil {
			t.Fatalf("%s: decode JSON: %v", name, err)
		}
		want.Holding = st.Holding // which JSON rows did not keep
		bin, err := st.appendRow(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bin[0] == '{' {
			t.Fatalf("%s: binary row starts like JSON", name)
		}
		var got Study
		if err := decodeStudy(bin, &got); err != nil {
			t.Fatalf("%s: decode binary: %v", name, err)
		}
		if !got.Received.Equal(want.Received) {
			t.Errorf("%s: received %v, want %v", name, got.Received, want.Received)
		}
		got.Received, want.Received = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s:\n got %s\nwant %s", name, g, w)
		}
		// Re-encoding a decoded row (SetHolding does) gives the same row.
		again, err := got.appendRow(nil)
		if err != nil {
			t.Fatalf("%s: re-encode: %v", name, err)
		}
		var back Study
		if err := decodeStudy(again, &back); err != nil || !reflect.DeepEqual(back.Attrs, want.Attrs) {
			t.Errorf("%s: re-encoded row differs (%v)", name, err)
		}
		for i := 1; i < len(bin); i += 1 + len(bin)/50 {
			var cut Study
			if err := decodeStudy(bin[:i], &cut); err == nil {
				t.Fatalf("%s: a row cut at %d of %d bytes decoded", name, i, len(bin))
			}
		}
	}
	for _, f := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		check(f, &Study{UID: h.StudyUID, Holding: "H1", Attrs: h.Dataset, Modalities: []string{"CT", "PT"}, Series: 2, Instances: 9,
			Version: 12, Received: time.Date(2026, 11, 26, 3, 4, 5, 123456789, time.UTC)})
	}
	check("values of every kind", &Study{UID: "1.2", Attrs: dcm.Dataset{
		"00100010": {VR: "PN", Value: []any{dcm.PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, nil}},
		"00200013": {VR: "IS", Value: []any{float64(7), 3, int64(-2), uint64(1 << 60), 0.5}},
		"00081030": {VR: "LO", Value: []any{"胸部CT平扫", ""}},
		"00091001": {VR: "UN", InlineBinary: "AAEC"},
		"00091002": {VR: "OB", BulkDataURI: "x/y"},
		"00091003": {VR: "CS", Value: []any{true, false}},
		"00091004": nil,
		"00081110": {VR: "SQ", Value: []any{dcm.Dataset{"00081150": {VR: "UI", Value: []any{"1.2.3"}}}, dcm.Dataset{}, dcm.Dataset(nil), nil}},
		"00081111": {VR: "SQ", Value: []any{map[string]any{"00081150": map[string]any{"vr": "UI", "Value": []any{"1.2"}}}}},
		"00100021": {VR: "LO", Value: []any{dcm.PersonName{Alphabetic: "not a PN"}, map[string]any{"k": []any{1.0, "x"}}}},
		"00080090": {VR: "PN", Value: []any{"Plain^String", ""}},
		"00091005": {VR: "PN", Value: []any{map[string]any{"Alphabetic": "Li^Na"}}},
	}})
	check("empty study", &Study{})
	check("no modalities", &Study{Modalities: []string{}, Attrs: dcm.Dataset{}})
	check("zoned study", &Study{Received: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))})
}

// TestUpgradeFromJSONStudyRows: an index of format 5 (JSON study rows) is
// upgraded at Open: its study rows are rewritten in binary, answer as
// before, and the keys and counts stay.
func TestUpgradeFromJSONStudyRows(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	putStudy(t, db, "1.1", "1.1.1", "1.1.1.1", "CT", studyAttrs("20240102", "101010", "P1", "A1", dcm.PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}))
	putStudy(t, db, "1.2", "1.2.1", "1.2.1.1", "MR", studyAttrs("20240103", "090000", "P2", "A2", dcm.PersonName{Alphabetic: "Li^Na"}))
	putStudy(t, db, "1.3", "1.3.1", "1.3.1.1", "MR", studyAttrs("20240104", "090000", "P3", "A3", dcm.PersonName{Alphabetic: "Wu^Lei"}))
	want := map[string]*Study{}
	for _, uid := range []string{"1.1", "1.2", "1.3"} {
		st, err := db.Study(uid)
		if err != nil {
			t.Fatal(err)
		}
		want[uid] = st
	}
	// Write them back as format 5 wrote them.
	err = db.bdb.Update(func(txn *badger.Txn) error {
		for uid, st := range want {
			js, err := st.appendJSON(nil)
			if err != nil {
				return err
			}
			if err := txn.Set(studyKey(uid), js); err != nil {
				return err
			}
		}
		return txn.Set([]byte(keyFormat), []byte("5"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir, migrateChunk: 1}) // a transaction per row
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for uid, w := range want {
		err := db.bdb.View(func(txn *badger.Txn) error {
			item, err := txn.Get(studyKey(uid))
			if err != nil {
				return err
			}
			return item.Value(func(v []byte) error {
				if v[0] != studyBin {
					return fmt.Errorf("row not rewritten: %.20q", v)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatalf("%s: %v", uid, err)
		}
		st, err := db.Study(uid)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st.Attrs, w.Attrs) || st.Instances != w.Instances || !reflect.DeepEqual(st.Modalities, w.Modalities) {
			t.Errorf("%s after upgrade: %+v, want %+v", uid, st, w)
		}
	}
	if got := uids(t, db, KindPatientID, "P2", true); !reflect.DeepEqual(got, []string{"1.2"}) {
		t.Errorf("PatientID key after upgrade: %v", got)
	}
	if s, se, in := db.Counts(); s != 3 || se != 3 || in != 3 {
		t.Errorf("counts after upgrade %d %d %d", s, se, in)
	}
}
