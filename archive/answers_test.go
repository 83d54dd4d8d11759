package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

type askingKey struct{}

// askingAnnotator annotates every study with who asks (from the context)
// and replaces its PatientSex, as recognition's block varies by asker.
type askingAnnotator struct{}

func (askingAnnotator) AnnotateStudy(ctx context.Context, st *index.Study) dcm.Dataset {
	who, _ := ctx.Value(askingKey{}).(string)
	return dcm.Dataset{
		"00110010": {VR: "LO", Value: []any{"TEST"}},
		"00111001": {VR: "CS", Value: []any{who + "-" + st.UID}},
		"00100040": {VR: "CS", Value: []any{"O"}},
	}
}

// membersAnnotator is askingAnnotator keeping its block encoded, as
// recognition does (MembersAnnotator).
type membersAnnotator struct{ askingAnnotator }

func (a membersAnnotator) AnnotateStudyMembers(ctx context.Context, st *index.Study) (*dcm.Members, error) {
	return dcm.EncodeMembers(a.AnnotateStudy(ctx, st))
}

// TestEncodedAnswersFromEncodedBlocks: an annotator's encoded block gives
// the page its data set block gives.
func TestEncodedAnswersFromEncodedBlocks(t *testing.T) {
	db := filledIndex(t, 30)
	svc := New(nil, db, Options{Visibility: Unrestricted{}, Annotators: []Annotator{membersAnnotator{}}})
	q := Query{Params: []Param{{"00080061", "CT,MR,US"}}, Limit: 10, Include: []string{"00081030"}}
	if a, b := checkEncoded(t, svc, q, "alice"), checkEncoded(t, svc, q, "bob"); bytes.Equal(a, b) {
		t.Fatal("bob got alice's annotations")
	}
}

// TestEncodedAnswers: the encoded page (Query.Encoded) is the JSON of the
// data set page, with the annotation of whoever asks merged in tag order
// (not cached with the study), and a study written since is encoded anew.
func TestEncodedAnswers(t *testing.T) {
	db := filledIndex(t, 60)
	svc := New(nil, db, Options{Visibility: Unrestricted{}, Annotators: []Annotator{askingAnnotator{}}})
	q := Query{Params: []Param{{"00080061", "CT,MR,US"}}, Limit: 10, Include: []string{"00081030"}}
	check := func(who string) []byte {
		t.Helper()
		return checkEncoded(t, svc, q, who)
	}
	a1 := check("alice")
	if b := check("bob"); bytes.Equal(a1, b) {
		t.Fatal("bob got alice's annotations")
	}
	if a2 := check("alice"); !bytes.Equal(a1, a2) {
		t.Fatal("the same query answered differently from the cache")
	}
	// One more instance in the first study changes its counts.
	var page []json.RawMessage
	if err := json.Unmarshal(a1, &page); err != nil {
		t.Fatal(err)
	}
	var ds dcm.Dataset
	if err := json.Unmarshal(page[0], &ds); err != nil {
		t.Fatal(err)
	}
	uid := ds.String("0020000D")
	st, err := db.Study(uid)
	if err != nil {
		t.Fatal(err)
	}
	err = db.PutInstance(index.NewInstance{
		Instance:    &index.Instance{Study: uid, Series: uid + ".77", SOP: uid + ".77.1", Key: uid + ".77.1", Attrs: dcm.Dataset{}},
		Meta:        []byte("{}"),
		SeriesAttrs: dcm.Dataset{"00080060": cs("CT")},
		StudyAttrs:  st.Attrs,
		Modality:    "CT",
		Received:    time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	a3 := check("alice")
	if bytes.Equal(a1, a3) {
		t.Fatal("a study written since was answered from the cache")
	}
}

// TestAnswerCacheBounded: the cache keeps neither an answer over
// answerMax nor more than answerBytes in all.
func TestAnswerCacheBounded(t *testing.T) {
	c := newAnswerCache()
	st := &index.Study{UID: "1.2.3", Version: 1}
	c.put(&encodedStudy{uid: st.UID, version: 1, sig: "s", m: membersOf(t, answerMax)})
	if c.get(st, "s") != nil {
		t.Fatal("an answer over answerMax was kept")
	}
	c.put(&encodedStudy{uid: st.UID, version: 1, sig: "s", m: membersOf(t, 100)})
	if c.get(st, "s") == nil || c.get(st, "t") != nil || c.get(&index.Study{UID: st.UID, Version: 2}, "s") != nil {
		t.Fatal("get does not tell entries apart by version and signature")
	}
	big := membersOf(t, answerMax-300)
	for i := range answerSlots {
		c.put(&encodedStudy{uid: "1.9." + strings.Repeat("1", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)), version: 1, m: big})
	}
	if c.used > answerBytes {
		t.Fatalf("cache holds %d bytes, more than %d", c.used, answerBytes)
	}
}

// checkEncoded checks that svc's encoded page for q, asked by who, is the
// JSON of its data set page, with who's annotation, and returns it.
func checkEncoded(t *testing.T, svc *Service, q Query, who string) []byte {
	t.Helper()
	ctx := context.WithValue(context.Background(), askingKey{}, who)
	want, err := svc.Search(ctx, q, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	wj, _ := json.Marshal(want.Items)
	eq := q
	eq.Encoded = true
	got, err := svc.Search(ctx, eq, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	gj := append(append([]byte("["), bytes.Join(got.Encoded, []byte(","))...), ']')
	if !bytes.Equal(gj, wj) || len(got.Encoded) != 10 || !got.More {
		t.Fatalf("asked by %s: encoded page (%d, more %v)\n%s\nwant\n%s", who, len(got.Encoded), got.More, gj, wj)
	}
	if !strings.Contains(string(gj), `"00100040":{"vr":"CS","Value":["O"]}`) || !strings.Contains(string(gj), `"`+who+`-`) {
		t.Fatalf("asked by %s: the annotation is not in the answer: %s", who, gj)
	}
	return gj
}

// membersOf encodes one attribute of about n bytes.
func membersOf(t *testing.T, n int) *dcm.Members {
	t.Helper()
	m, err := dcm.EncodeMembers(dcm.Dataset{"00081030": {VR: "LO", Value: []any{strings.Repeat("a", n)}}})
	if err != nil || m == nil {
		t.Fatal(err)
	}
	return m
}

// TestReleasedPagesReused: a released page's buffer serves the next
// search without changing any answer, and releasing twice gives the
// buffer back once (two later pages never share it).
func TestReleasedPagesReused(t *testing.T) {
	db := filledIndex(t, 40)
	svc := New(nil, db, Options{Visibility: Unrestricted{}, Annotators: []Annotator{membersAnnotator{}}})
	ctx := context.WithValue(context.Background(), askingKey{}, "alice")
	search := func(mods string) (*Result, []byte) {
		t.Helper()
		res, err := svc.Search(ctx, Query{Params: []Param{{"00080061", mods}}, Limit: 20, Encoded: true}, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		return res, bytes.Join(res.Encoded, []byte(","))
	}
	r1, want1 := search("CT")
	r1.Release()
	r1.Release()
	r2, want2 := search("MR")
	r3, got1 := search("CT") // r2 still held: r3 must not write into its buffer
	if !bytes.Equal(got1, want1) {
		t.Fatal("a page encoded into a reused buffer differs")
	}
	if got2 := bytes.Join(r2.Encoded, []byte(",")); !bytes.Equal(got2, want2) {
		t.Fatal("a page still held was overwritten by a later search")
	}
	r2.Release()
	r3.Release()
}
