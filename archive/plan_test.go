package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

func cs(v string) *dcm.Element { return &dcm.Element{VR: "CS", Value: []any{v}} }

// fillIndex writes n studies of random patients, names, dates and
// modalities straight into the index (the planner reads nothing else).
func fillIndex(t testing.TB, db *index.DB, n int, rng *rand.Rand) {
	t.Helper()
	names := []dcm.PersonName{
		{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, {Alphabetic: "Zhang^Li", Ideographic: "张^丽"},
		{Alphabetic: "Li^Na", Ideographic: "李^娜"}, {Alphabetic: "Wang^Fang"}, {Ideographic: "王^芳"}, {},
		{Alphabetic: "LIU^YANG"},
	}
	mods := []string{"CT", "MR", "CR", "US", "PT"}
	descs := []string{"CT CHEST W/O CONTRAST", "胸部CT平扫", "MR Brain", "Abdomen US", "", "chest x-ray"}
	for i := range n {
		study := fmt.Sprintf("1.2.9.%d", i)
		st := dcm.Dataset{
			"0020000D": &dcm.Element{VR: "UI", Value: []any{study}},
			"00100020": &dcm.Element{VR: "LO", Value: []any{fmt.Sprintf("P%d", rng.IntN(40))}},
			"00080050": &dcm.Element{VR: "SH", Value: []any{fmt.Sprintf("A%d", i%97)}},
			"00100010": &dcm.Element{VR: "PN", Value: []any{names[rng.IntN(len(names))]}},
		}
		if d := descs[i%len(descs)]; d != "" {
			st["00081030"] = &dcm.Element{VR: "LO", Value: []any{d}}
		}
		if rng.IntN(10) > 0 {
			st["00080020"] = &dcm.Element{VR: "DA", Value: []any{fmt.Sprintf("2024%02d%02d", 1+rng.IntN(3), 1+rng.IntN(28))}}
			st["00080030"] = &dcm.Element{VR: "TM", Value: []any{fmt.Sprintf("%02d%02d", rng.IntN(24), rng.IntN(60))}}
		}
		for j := range 1 + rng.IntN(2) {
			series := fmt.Sprintf("%s.%d", study, j)
			m := mods[rng.IntN(len(mods))]
			for k := range 1 + rng.IntN(2) {
				sop := fmt.Sprintf("%s.%d", series, k)
				err := db.PutInstance(index.NewInstance{
					Instance:    &index.Instance{Study: study, Series: series, SOP: sop, Key: sop, Attrs: dcm.Dataset{"00200013": &dcm.Element{VR: "IS", Value: []any{float64(k)}}}},
					Meta:        []byte("{}"),
					SeriesAttrs: dcm.Dataset{"00080060": cs(m), "00200011": &dcm.Element{VR: "IS", Value: []any{float64(j)}}},
					StudyAttrs:  st,
					Modality:    m,
					Received:    time.Unix(1700000000, 0),
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// filledIndex is a new in-memory index with n studies of fillIndex (one
// seed for every test), closed with the test.
func filledIndex(t testing.TB, n int) *index.DB {
	t.Helper()
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fillIndex(t, db, n, rand.New(rand.NewPCG(3, 4)))
	return db
}

// TestPlannerAgreesWithScan: whatever key the planner picks, the answer
// (items, order, More) is the one a scan of every study in QIDO order
// gives, for exact, list, wildcard, fuzzy and range keys at each level,
// with limit and offset.
func TestPlannerAgreesWithScan(t *testing.T) {
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fillIndex(t, db, 400, rand.New(rand.NewPCG(1, 2)))
	planned := New(nil, db, Options{Visibility: Unrestricted{}})
	scanned := New(nil, db, Options{Visibility: Unrestricted{}})
	scanned.scanAll = true

	p := func(kv ...string) []Param {
		var out []Param
		for i := 0; i < len(kv); i += 2 {
			out = append(out, Param{kv[i], kv[i+1]})
		}
		return out
	}
	queries := []Query{
		{Params: p("00100020", "P7")},
		{Params: p("00100020", "P1*")},
		{Params: p("00100020", "*3")},
		{Params: p("00100020", "P7"), Limit: 2},
		{Params: p("00100020", "P7"), Limit: 2, Offset: 3},
		{Params: p("00080050", "A5")},
		{Params: p("00080050", "A5", "00100020", "P*")},
		{Params: p("00080020", "20240215")},
		{Params: p("00080020", "20240201-20240210"), Limit: 5},
		{Params: p("00080020", "20240301-"), Limit: 7, Offset: 2},
		{Params: p("00080020", "-20240105")},
		{Params: p("00080061", "PT")},
		{Params: p("00080061", "PT,US"), Limit: 10},
		{Params: p("00080061", "C*")},
		{Params: p("00100010", "zhang*")},
		{Params: p("00100010", "张*"), Fuzzy: true},
		{Params: p("00100010", "张*")},
		{Params: p("00100010", "li^na")},
		{Params: p("00100010", "LI^NA")},
		{Params: p("00100010", "李^娜")},
		{Params: p("00100010", "wei"), Fuzzy: true},
		{Params: p("00100010", "zh"), Fuzzy: true, Limit: 3},
		{Params: p("00100010", "*ang*")},
		{Params: p("00100010", "*=王^芳")},
		{Params: p("0020000D", "1.2.9.5,1.2.9.77,1.2.9.300,1.2.9.9999")},
		{Params: p("00100020", "P2", "00080020", "20240101-20240301", "00080061", "CT")},
		{Limit: 10, Offset: 390},
		{Level: LevelSeries, Params: p("00080060", "MR"), Limit: 20},
		{Level: LevelSeries, Params: p("00080060", "MR,PT", "00100020", "P5")},
		{Level: LevelInstance, Params: p("00100020", "P9")},
		{Level: LevelInstance, Params: p("00080060", "US", "00080020", "20240110-20240120")},
		{Params: p("00081030", "*chest*")},
		{Params: p("00081030", "*CHEST*"), Limit: 10, Offset: 5},
		{Params: p("00081030", "*hest*")},
		{Params: p("00081030", "*平扫*")},
		{Params: p("00081030", "*CT*")},
		{Params: p("00081030", "MR*")},
		{Params: p("00081030", "*x-ray")},
		{Params: p("00081030", "CT CHEST W/O CONTRAST")},
		{Params: p("00081030", "*扫")},
		{Level: LevelSeries, Params: p("00081030", "*Brain*")},
	}
	empty := []int{16} // 张* without fuzzy matching: the whole name starts with Zhang
	ctx := context.Background()
	// With the default caps every plan reads few candidates; with small
	// caps prefix plans merge their values' streams (mergeMax 64) or fall
	// back to the order scan (mergeMax 2).
	for _, caps := range [][2]int{{estimateCap, maxMergedValues}, {5, 64}, {5, 2}} {
		planned.planCap, planned.mergeMax = caps[0], caps[1]
		for i, q := range queries {
			want, err := scanned.Search(ctx, q, Scope{})
			if err != nil {
				t.Fatalf("query %d: %v", i, err)
			}
			got, err := planned.Search(ctx, q, Scope{})
			if err != nil {
				t.Fatalf("query %d: %v", i, err)
			}
			wj, _ := json.Marshal(want.Items)
			gj, _ := json.Marshal(got.Items)
			if string(wj) != string(gj) || want.More != got.More {
				t.Errorf("caps %v, query %d %+v (plan %s): planned answer (%d items, more %v) differs from the scan (%d, %v)",
					caps, i, q, planned.planFor(q).name, len(got.Items), got.More, len(want.Items), want.More)
			}
			// The encoded page is the same JSON, encoded once and then
			// from the cache of encoded answers.
			eq := q
			eq.Encoded = true
			for range 2 {
				enc, err := planned.Search(ctx, eq, Scope{})
				if err != nil {
					t.Fatalf("query %d encoded: %v", i, err)
				}
				ej := "[" + string(bytes.Join(enc.Encoded, []byte(","))) + "]"
				if len(want.Items) == 0 {
					ej = "null"
				}
				if ej != string(wj) || len(enc.Items) != 0 || enc.More != want.More {
					t.Fatalf("query %d %+v encoded:\n%s\nwant\n%s", i, q, ej, wj)
				}
			}
			if len(want.Items) == 0 && q.Offset < 390 && !slices.Contains(empty, i) {
				t.Errorf("query %d %+v finds nothing: a useless case", i, q)
			}
		}
	}
	planned.planCap, planned.mergeMax = estimateCap, maxMergedValues
	// The planner chose keys, not the scan, for the selective queries.
	for _, c := range []struct {
		q    Query
		plan string
	}{
		{queries[0], "pid"}, {queries[5], "acc"}, {queries[8], "date"}, {queries[11], "mod"},
		{queries[14], "pnw*"}, {queries[17], "pn"}, {queries[24], "uid"}, {queries[23], "order"},
		{queries[31], "sdw*"}, {queries[34], "sdw*"},
	} {
		if got := planned.planFor(c.q).name; got != c.plan {
			t.Errorf("plan of %+v: %s, want %s", c.q.Params, got, c.plan)
		}
	}
}

// TestSearchBoundedWhenNoKeyNarrows: a query no key narrows reads at most
// MaxExamined studies and answers the page found so far with More and a
// Warning naming narrower keys; a query a key narrows is not cut short.
func TestSearchBoundedWhenNoKeyNarrows(t *testing.T) {
	db := filledIndex(t, 300)
	ctx := context.Background()
	full, err := New(nil, db, Options{Visibility: Unrestricted{}}).Search(ctx, Query{Params: []Param{{"00100010", "*ang*"}}}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	bounded := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 50})
	res, err := bounded.Search(ctx, Query{Params: []Param{{"00100010", "*ang*"}}}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.More || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "stopped after examining 50 studies") {
		t.Fatalf("bounded search: more %v, warnings %q", res.More, res.Warnings)
	}
	if len(res.Items) == 0 || len(res.Items) >= len(full.Items) {
		t.Fatalf("bounded search found %d of %d", len(res.Items), len(full.Items))
	}
	for i, ds := range res.Items {
		if ds.String("0020000D") != full.Items[i].String("0020000D") {
			t.Fatalf("item %d: %s, want %s (the start of the full answer)", i, ds.String("0020000D"), full.Items[i].String("0020000D"))
		}
	}
	// A PatientID narrows: its few candidates are all read.
	pid := full.Items[0].String("00100020")
	res, err = bounded.Search(ctx, Query{Params: []Param{{"00100020", pid}}}, Scope{})
	if err != nil || res.More || len(res.Warnings) != 0 || len(res.Items) == 0 {
		t.Fatalf("PatientID search: %d items, more %v, warnings %q, %v", len(res.Items), res.More, res.Warnings, err)
	}
}
