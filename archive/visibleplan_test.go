package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/index"
)

// holdingFacts are the recognition facts the visibility rule reads, from
// the index rows: the holder recorded in the row, the person of a
// PatientID.
type holdingFacts struct{ persons map[string]string } // PatientID -> person

func (f holdingFacts) StudyInstitution(_ context.Context, st *index.Study) string { return st.Holding }
func (f holdingFacts) StudyPerson(_ context.Context, st *index.Study) string {
	return f.persons[st.Attrs.String("00100020")]
}
func (f holdingFacts) StudyLink(ctx context.Context, st *index.Study) (string, time.Time) {
	return f.StudyPerson(ctx, st), time.Time{}
}
func (holdingFacts) StudyItems(context.Context, *index.Study) []string { return nil }
func (holdingFacts) Regions(string) []string                           { return nil }
func (f holdingFacts) PersonPatientIDs(_ context.Context, person string) ([]string, error) {
	var out []string
	for id, p := range f.persons {
		if p == person {
			out = append(out, id)
		}
	}
	return out, nil
}

type memRecords map[string][]byte

func (m memRecords) Put(_ context.Context, kind, id string, v any) error {
	b, err := json.Marshal(v)
	m[kind+"/"+id] = b
	return err
}
func (m memRecords) List(context.Context, string, func(string, []byte) error) error { return nil }

// TestVisiblePlan: a clinician's unkeyed study list at an institution
// holding 5 of 5,000 studies reads the rows of those 5 (and of the
// studies without a recorded holder), not 5,000, and so does a keyed
// query; with a consent, the consenting person's studies join in answer
// order. Every answer is the one the scan of every study gives.
func TestVisiblePlan(t *testing.T) {
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 5000
	fillIndex(t, db, n, rand.New(rand.NewPCG(3, 4)))
	mine := map[string]bool{}
	for i := range n {
		uid, holder := fmt.Sprintf("1.2.9.%d", i), "H2"
		switch {
		case i%1000 == 7:
			holder = "H1"
			mine[uid] = true
		case i == 4242:
			holder = "" // not recorded: every institution's plan reads it
		}
		if err := db.SetHolding(uid, holder); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := consent.New(context.Background(), memRecords{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	person := fmt.Sprintf("%064x", 7)
	vis := access.NewVisibility(holdingFacts{persons: map[string]string{"P7": person}}, cons)
	// A page larger than any answer here: the searches without limit
	// compare whole answers.
	planned := New(nil, db, Options{Visibility: vis, MaxExamined: n, DefaultLimit: 1000})
	scanned := New(nil, db, Options{Visibility: vis, MaxExamined: n, DefaultLimit: 1000})
	scanned.scanAll = true
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.RoleClinician, Institution: "H1"})
	admin := auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.RoleAdmin})

	check := func(name string, ctx context.Context, q Query, wantItems, maxRead int) {
		t.Helper()
		scanned.studiesRead.Store(0)
		want, err := scanned.Search(ctx, q, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		scanRead := scanned.studiesRead.Load()
		before := planned.studiesRead.Load()
		got, err := planned.Search(ctx, q, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		read := planned.studiesRead.Load() - before
		wj, _ := json.Marshal(want.Items)
		gj, _ := json.Marshal(got.Items)
		if string(wj) != string(gj) || want.More != got.More {
			t.Errorf("%s: planned answer (%d items, more %v) differs from the scan (%d, %v)", name, len(got.Items), got.More, len(want.Items), want.More)
		}
		if wantItems >= 0 && len(got.Items) != wantItems {
			t.Errorf("%s: %d studies, want %d", name, len(got.Items), wantItems)
		}
		if read > int64(maxRead) {
			t.Errorf("%s: read %d study rows, want at most %d", name, read, maxRead)
		}
		t.Logf("%s: %d studies, %d rows read (the scan of every study: %d)", name, len(got.Items), read, scanRead)
	}
	check("clinician, all studies", ctx, Query{}, 5, 6)
	check("clinician, limit 2", ctx, Query{Limit: 2}, 2, 3) // limit+1 tells More
	check("clinician, CT", ctx, Query{Params: []Param{{"00080061", "CT"}}}, -1, 6)
	check("admin, limit 10", admin, Query{Limit: 10}, 10, 11)

	// A consent of P7's person for H1: P7's studies join (about n/40).
	if _, err := cons.Grant(context.Background(), consent.Consent{PersonKey: person, GranteeKind: consent.GranteeInstitution, GranteeID: "H1"}); err != nil {
		t.Fatal(err)
	}
	p7 := 0
	for i := range n {
		st, err := db.Study(fmt.Sprintf("1.2.9.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if st.Attrs.String("00100020") == "P7" && !mine[st.UID] {
			p7++
		}
	}
	check("clinician with a consent", ctx, Query{}, 5+p7, 6+p7)
	check("clinician with a consent, limit 20, offset 3", ctx, Query{Limit: 20, Offset: 3}, 20, 24)

	// A patient's search reads their person's PatientID keys only.
	allP7 := 0
	for i := range n {
		if st, _ := db.Study(fmt.Sprintf("1.2.9.%d", i)); st.Attrs.String("00100020") == "P7" {
			allP7++
		}
	}
	patient := auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.RolePatient, PersonKey: person})
	check("patient", patient, Query{}, allP7, allP7)
	check("patient, PatientName", patient, Query{Params: []Param{{"00100010", "*a*"}}}, -1, allP7)
	check("patient of no PatientID", auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.RolePatient, PersonKey: fmt.Sprintf("%064x", 8)}), Query{}, 0, 0)

	// A move back to unknown and to H1 is followed by the plan.
	if err := db.SetHolding("1.2.9.4242", "H1"); err != nil {
		t.Fatal(err)
	}
	check("after a move", ctx, Query{}, 6+p7, 6+p7)
}
