package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// TestSearchBoundRefusesWhenNothingFound: a query no key narrows that
// finds nothing within MaxExamined rows is refused (an empty page would
// read as "no match"), having read at most the bound; below the study
// level the bound counts series and instance rows too.
func TestSearchBoundRefusesWhenNothingFound(t *testing.T) {
	db := filledIndex(t, 300)
	ctx := context.Background()
	s := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 50})
	for _, q := range []Query{
		{Params: []Param{{"00100010", "*qqq*"}}},
		{Level: LevelSeries, Params: []Param{{"00100010", "*qqq*"}}},
		{Level: LevelInstance, Params: []Param{{"00100010", "*qqq*"}}},
	} {
		before := s.rowsRead.Load()
		_, err := s.Search(ctx, q, Scope{})
		var inv *InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "examined 50") || !strings.Contains(err.Error(), "PatientID") {
			t.Fatalf("%s level: %v, want an InvalidError naming the bound and narrower keys", q.Level, err)
		}
		if read := s.rowsRead.Load() - before; read > 50 {
			t.Errorf("%s level: read %d rows, bound 50", q.Level, read)
		}
	}
	// The whole archive without a bound has no match either: the same
	// query with a generous bound answers an empty page.
	res, err := New(nil, db, Options{Visibility: Unrestricted{}}).Search(ctx, Query{Params: []Param{{"00100010", "*qqq*"}}}, Scope{})
	if err != nil || len(res.Items) != 0 || res.More {
		t.Fatalf("unbounded: %v items, more %v, %v", res, res != nil && res.More, err)
	}
}

// TestDeepOffset: the study list of a party that sees everything skips
// its offset on the key without reading the rows it skips; an offset the
// bound cannot reach is refused naming limit; a matcher's offset reads
// rows, within the bound.
func TestDeepOffset(t *testing.T) {
	db := filledIndex(t, 300)
	ctx := context.Background()
	s := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 280})
	full, err := New(nil, db, Options{Visibility: Unrestricted{}}).Search(ctx, Query{Limit: MaxLimit}, Scope{})
	if err != nil || len(full.Items) != 300 {
		t.Fatalf("full list: %v", err)
	}
	before := s.rowsRead.Load()
	res, err := s.Search(ctx, Query{Offset: 250, Limit: 10}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if read := s.rowsRead.Load() - before; read > 11 {
		t.Errorf("offset 250, limit 10: read %d rows, want at most 11 (limit+1)", read)
	}
	if len(res.Items) != 10 {
		t.Fatalf("offset 250: %d items", len(res.Items))
	}
	for i, ds := range res.Items {
		if got, want := ds.String("0020000D"), full.Items[250+i].String("0020000D"); got != want {
			t.Fatalf("offset 250 item %d: %s, want %s", i, got, want)
		}
	}

	_, err = s.Search(ctx, Query{Offset: 900000, Limit: 10}, Scope{})
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Field != "offset" || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("offset 900000: %v, want an InvalidError on offset naming limit", err)
	}

	// A matcher must see each row it skips: rows are read, the bound holds.
	before = s.rowsRead.Load()
	res, err = s.Search(ctx, Query{Offset: 100, Limit: 10, Params: []Param{{"00100010", "*ang*"}}}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if read := s.rowsRead.Load() - before; read > 280 {
		t.Errorf("matcher with offset: read %d rows, bound 280", read)
	}
	if len(res.Items) == 0 {
		t.Fatal("matcher with offset: nothing")
	}
}

// TestDescriptionWordPlan: StudyDescription=*word* (matched with case, keyed without) reads only the studies
// with the word's keys, so a bound that would stop a scan of every study
// does not stop it.
func TestDescriptionWordPlan(t *testing.T) {
	db := filledIndex(t, 300)
	s := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 60})
	for _, v := range []string{"*Brain*", "*BRAIN*", "*平扫*", "*rai*"} {
		before := s.rowsRead.Load()
		res, err := s.Search(context.Background(), Query{Params: []Param{{"00081030", v}}}, Scope{})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		read := s.rowsRead.Load() - before
		if want := 50; v == "*BRAIN*" && len(res.Items) != 0 || v != "*BRAIN*" && len(res.Items) != want || res.More || len(res.Warnings) > 0 {
			t.Errorf("%s: %d items, more %v, warnings %q", v, len(res.Items), res.More, res.Warnings)
		}
		if read > 50 {
			t.Errorf("%s: read %d rows, want at most the 50 candidates", v, read)
		}
	}
}

// TestSearchCount: Query.Count gives the total of matches whatever limit
// and offset, the same as counting the full answer; the study list and
// one exact key are counted without reading rows past the page; a count
// the bound stops is left out with a Warning, the page still whole.
func TestSearchCount(t *testing.T) {
	db := filledIndex(t, 300)
	ctx := context.Background()
	all := New(nil, db, Options{Visibility: Unrestricted{}})
	s := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 300})
	for _, c := range []struct {
		q       Query
		maxRead int64
	}{
		{Query{Limit: 5}, 6},
		{Query{Limit: 5, Offset: 7, Params: []Param{{"00100020", "P7"}}}, 13},
		{Query{Limit: 5, Params: []Param{{"00080061", "CT"}}}, 6},
		{Query{Limit: 5, Params: []Param{{"00100010", "*ang*"}}}, 300},
		{Query{Limit: 5, Params: []Param{{"00081030", "*Brain*"}}}, 50},
		{Query{Level: LevelSeries, Limit: 3, Params: []Param{{"00100020", "P3"}}}, 300},
	} {
		full, err := all.Search(ctx, Query{Level: c.q.Level, Params: c.q.Params, Limit: MaxLimit}, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		q := c.q
		q.Count = true
		before := s.rowsRead.Load()
		res, err := s.Search(ctx, q, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		read := s.rowsRead.Load() - before
		if !res.Counted || res.Total != len(full.Items) {
			t.Errorf("%+v: total %d (counted %v), want %d", q.Params, res.Total, res.Counted, len(full.Items))
		}
		if len(res.Items) != min(q.Limit, max(0, len(full.Items)-q.Offset)) {
			t.Errorf("%+v: page of %d", q.Params, len(res.Items))
		}
		if read > c.maxRead {
			t.Errorf("%+v: read %d rows, want at most %d", q.Params, read, c.maxRead)
		}
	}
	// Bound 50: the first page of *ang* is found, its total is not.
	b := New(nil, db, Options{Visibility: Unrestricted{}, MaxExamined: 50})
	res, err := b.Search(ctx, Query{Limit: 3, Count: true, Params: []Param{{"00100010", "*ang*"}}}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counted || len(res.Items) != 3 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "total was not counted") {
		t.Fatalf("bounded count: counted %v, %d items, warnings %q", res.Counted, len(res.Items), res.Warnings)
	}
}

// TestDefaultPage: a search without limit answers DefaultLimit results
// and says more exist; a limit asks for more, up to MaxLimit.
func TestDefaultPage(t *testing.T) {
	db := filledIndex(t, 300)
	s := New(nil, db, Options{Visibility: Unrestricted{}, DefaultLimit: 100})
	res, err := s.Search(context.Background(), Query{}, Scope{})
	if err != nil || len(res.Items) != 100 || !res.More {
		t.Fatalf("no limit: %d items, more %v, %v", len(res.Items), res != nil && res.More, err)
	}
	res, err = s.Search(context.Background(), Query{Limit: 250}, Scope{})
	if err != nil || len(res.Items) != 250 || !res.More {
		t.Fatalf("limit 250: %d items, more %v, %v", len(res.Items), res != nil && res.More, err)
	}
	if New(nil, db, Options{}).opt.DefaultLimit != DefaultPageLimit {
		t.Error("the default page is not DefaultPageLimit")
	}
}

// pageCounter counts the index's reads of study rows and instance lists.
type pageCounter struct {
	index.Store
	one, pages, rows, lists, seriesLists int
}

func (c *pageCounter) SeriesOf(study string) []*index.Series {
	c.seriesLists++
	return c.Store.SeriesOf(study)
}

func (c *pageCounter) Instances(study, series string) ([]*index.Instance, error) {
	c.lists++
	return c.Store.Instances(study, series)
}

func (c *pageCounter) Study(uid string) (*index.Study, error) {
	c.one++
	return c.Store.Study(uid)
}

func (c *pageCounter) Studies(uids []string) ([]*index.Study, error) {
	c.pages++
	c.rows += len(uids)
	return c.Store.Studies(uids)
}

// TestCandidatesReadByPage: a search reads its candidate studies a page
// at a time, never one by one (one query per page on PostgreSQL): a page
// of 100 that every candidate fills is one read of 101 rows; a matcher
// that rejects most candidates reads pages that double, so 300
// candidates take a handful of reads; a UID list is read once to plan,
// once to answer.
func TestCandidatesReadByPage(t *testing.T) {
	db := filledIndex(t, 300)
	ctx := context.Background()
	for _, c := range []struct {
		q                  Query
		maxPages, wantRows int
	}{
		{Query{Limit: 100}, 1, 101},
		{Query{Limit: 5, Params: []Param{{"00100010", "*Na*"}}}, 4, -1},
		{Query{Limit: 10, Params: []Param{{"0020000D", "1.2.9.7\\1.2.9.9"}}}, 2, 4}, // the plan reads the list, the scan its candidates
	} {
		cnt := &pageCounter{Store: db}
		s := New(nil, cnt, Options{Visibility: Unrestricted{}})
		res, err := s.Search(ctx, c.q, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := New(nil, db, Options{Visibility: Unrestricted{}}).Search(ctx, c.q, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != len(want.Items) || len(res.Items) == 0 {
			t.Errorf("%v: %d items, want %d (and some)", c.q.Params, len(res.Items), len(want.Items))
		}
		if cnt.one != 0 || cnt.pages > c.maxPages || c.wantRows >= 0 && cnt.rows != c.wantRows {
			t.Errorf("%v: %d single reads, %d pages of %d rows; want none, at most %d pages (%d rows)", c.q.Params, cnt.one, cnt.pages, cnt.rows, c.maxPages, c.wantRows)
		}
	}
	// The instances of a study of two series: one list, not one per
	// series, in the order of the series.
	var study string
	for i := 0; study == ""; i++ {
		if uid := fmt.Sprintf("1.2.9.%d", i); len(db.SeriesOf(uid)) == 2 {
			study = uid
		}
	}
	cnt := &pageCounter{Store: db}
	res, err := New(nil, cnt, Options{Visibility: Unrestricted{}}).Search(ctx, Query{Level: LevelInstance, Study: study}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, ds := range res.Items {
		got = append(got, ds.String("00080018"))
	}
	for _, se := range db.SeriesOf(study) {
		ins, _ := db.Instances(study, se.UID)
		for _, in := range ins {
			want = append(want, in.SOP)
		}
	}
	if cnt.lists != 1 || !slices.Equal(got, want) {
		t.Errorf("instances of a study of two series: %d lists read, %v; want 1, %v", cnt.lists, got, want)
	}
	// Series across studies: the series of a page of candidates in one
	// read, none study by study.
	cnt = &pageCounter{Store: db}
	res, err = New(nil, cnt, Options{Visibility: Unrestricted{}}).Search(ctx, Query{Level: LevelSeries, Limit: 50}, Scope{})
	if err != nil || len(res.Items) != 50 {
		t.Fatalf("series across studies: %v, %v", res, err)
	}
	if cnt.seriesLists != 0 || cnt.pages != 1 {
		t.Errorf("series across studies: %d series lists study by study, %d pages; want none and 1", cnt.seriesLists, cnt.pages)
	}
}

// TestDefaultPageWithinAStudy: the default page bounds searches that grow
// with the archive, not the instances of one series or study, which a
// viewer lists whole (a thin-slice CT has thousands).
func TestDefaultPageWithinAStudy(t *testing.T) {
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 250
	study, series := "1.2.9.77", "1.2.9.77.1"
	for k := range n {
		sop := fmt.Sprintf("%s.%d", series, k)
		err := db.PutInstance(index.NewInstance{
			Instance:    &index.Instance{Study: study, Series: series, SOP: sop, Key: sop, Attrs: dcm.Dataset{"00200013": &dcm.Element{VR: "IS", Value: []any{float64(k)}}}},
			Meta:        []byte("{}"),
			SeriesAttrs: dcm.Dataset{"00080060": cs("CT")},
			StudyAttrs:  dcm.Dataset{"0020000D": &dcm.Element{VR: "UI", Value: []any{study}}},
			Modality:    "CT",
			Received:    time.Unix(1700000000, 0),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := New(nil, db, Options{Visibility: Unrestricted{}, DefaultLimit: 100})
	for _, q := range []Query{
		{Level: LevelInstance, Study: study, Series: series},
		{Level: LevelInstance, Study: study},
	} {
		res, err := s.Search(context.Background(), q, Scope{})
		if err != nil || len(res.Items) != n || res.More {
			t.Errorf("instances of %q/%q without limit: %d items (want %d), more %v, %v", q.Study, q.Series, len(res.Items), n, res != nil && res.More, err)
		}
	}
	res, err := s.Search(context.Background(), Query{Level: LevelInstance}, Scope{})
	if err != nil || len(res.Items) != 100 || !res.More {
		t.Errorf("instances across studies without limit: %d items (want the page of 100), more %v, %v", len(res.Items), res != nil && res.More, err)
	}
}
