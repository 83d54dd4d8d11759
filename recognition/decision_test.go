package recognition

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
)

// clinician is the context of a request by a signed-in physician.
func clinician(institution, user string) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{Role: auth.RoleClinician, Institution: institution, User: user, TokenID: "tok-" + user})
}

// TestDecisionsAndStatistics records accepts and refusals, checks the
// refusals of bad input write nothing, that decisions are immutable, and
// that every grouping of the statistics sums to the same totals.
func TestDecisionsAndStatistics(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := clinician("fahzu", "王医生")
	ctJS := fx.study(t, "CT", "jsph")
	otSH := fx.study(t, "OT", "zsh-fdu")
	mrBJ := fx.study(t, "MR", "pumch")
	tag, _ := fx.svc.Tag(ctx, ctJS, "fahzu")
	fx.now = at(t, tag.Anchor, 1)

	accept := DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept, Item: "CT01"}
	d1, err := fx.svc.Decide(ctx, accept)
	if err != nil {
		t.Fatal(err)
	}
	if d1.PriceYuan != 150 || d1.Region != "YRD" || d1.Holding != "jsph" {
		t.Errorf("decision %+v", d1)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "ayfy", Outcome: OutcomeRefuse, Reason: ReasonConditionChanged}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "jsph", Outcome: OutcomeAccept}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Order: "MZ-1", Study: mrBJ, Institution: "tmugh", Outcome: OutcomeRefuse, Reason: ReasonOther, Text: "需要增强扫描"}); err != nil {
		t.Fatal(err)
	}

	bad := map[string]struct {
		req  DecisionRequest
		want error
	}{
		"not recognisable":     {DecisionRequest{Order: "MZ-1", Study: otSH, Institution: "fahzu", Outcome: OutcomeAccept}, ErrNotRecognisable},
		"outside region":       {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "pumch", Outcome: OutcomeAccept}, ErrNotRecognisable},
		"unknown item":         {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept, Item: "ZZ9"}, ErrInvalid},
		"other item":           {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept, Item: "CT02"}, ErrInvalid},
		"refuse without":       {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeRefuse}, ErrInvalid},
		"other without text":   {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeRefuse, Reason: ReasonOther}, ErrInvalid},
		"accept with reason":   {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept, Reason: ReasonIncomplete}, ErrInvalid},
		"physician in body":    {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept}, ErrInvalid},
		"no order":             {DecisionRequest{Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept}, ErrInvalid},
		"unknown study":        {DecisionRequest{Order: "MZ-1", Study: "1.2.3", Institution: "fahzu", Outcome: OutcomeAccept}, ErrNotFound},
		"unknown institution":  {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "mars", Outcome: OutcomeAccept}, ErrNotFound},
		"strange outcome":      {DecisionRequest{Order: "MZ-1", Study: ctJS, Institution: "fahzu", Outcome: "maybe"}, ErrInvalid},
		"missing institution:": {DecisionRequest{Order: "MZ-1", Study: ctJS, Outcome: OutcomeAccept}, ErrInvalid},
	}
	for name, c := range bad {
		if _, err := fx.svc.Decide(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	all, err := fx.svc.Decisions(ctx, DecisionFilter{})
	if err != nil || len(all) != 4 {
		t.Fatalf("%d decisions (%v), want 4: bad input wrote something", len(all), err)
	}
	// Immutable: the same id cannot be written again.
	if err := fx.rec.Create(ctx, kindDecisions, d1.ID, d1); !errors.Is(err, records.ErrExists) {
		t.Errorf("decision overwritten: %v", err)
	}

	for _, by := range []string{ByMonth, ByRegion, ByInstitution, ByItem} {
		st, err := fx.svc.Statistics(ctx, StatsRequest{By: by})
		if err != nil {
			t.Fatal(err)
		}
		sum := newRow("sum", "")
		for _, r := range st.Rows {
			sum.Recognised += r.Recognised
			sum.Refused += r.Refused
			sum.SavedYuan += r.SavedYuan
			for k, v := range r.RefusalsByReason {
				sum.RefusalsByReason[k] += v
			}
		}
		if sum.Recognised != 2 || sum.Refused != 2 || sum.SavedYuan != 300 ||
			sum.RefusalsByReason[ReasonConditionChanged] != 1 || sum.RefusalsByReason[ReasonOther] != 1 {
			t.Errorf("by %s: sums %+v", by, sum)
		}
		if st.Total.Recognised != 2 || st.Total.SavedYuan != 300 {
			t.Errorf("by %s: total %+v", by, st.Total)
		}
	}
	st, _ := fx.svc.Statistics(ctx, StatsRequest{By: ByRegion})
	keys := map[string]StatsRow{}
	for _, r := range st.Rows {
		keys[r.Key] = r
	}
	if keys["YRD"].Recognised != 1 || keys["YRD"].Refused != 1 || keys["320000"].Recognised != 1 || keys["JJJ"].Refused != 1 || keys["YRD"].Label != "长三角" {
		t.Errorf("by region %+v", st.Rows)
	}
	if _, err := fx.svc.Statistics(ctx, StatsRequest{By: "week"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("by week: %v", err)
	}
	st, _ = fx.svc.Statistics(ctx, StatsRequest{By: ByMonth, From: fx.now.AddDate(0, 0, 1)})
	if len(st.Rows) != 0 {
		t.Errorf("from tomorrow: %+v", st.Rows)
	}
}

// TestDecisionsSupersede: one decision counts per (study, institution,
// order): accepting twice saves once, a later refusal replaces the accept
// in the statistics (both stay in the history), another order counts on
// its own, and the physician is the signed-in principal.
func TestDecisionsSupersede(t *testing.T) {
	fx := newFixture(t, nil)
	ctJS := fx.study(t, "CT", "jsph")
	tag, _ := fx.svc.Tag(context.Background(), ctJS, "fahzu")
	fx.now = at(t, tag.Anchor, 1)
	ctx := clinician("fahzu", "王医生")
	decide := func(order, outcome, reason string) *Decision {
		t.Helper()
		fx.now = fx.now.Add(time.Minute)
		d, err := fx.svc.Decide(ctx, DecisionRequest{Study: ctJS, Institution: "fahzu", Order: order, Outcome: outcome, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	total := func() StatsRow {
		t.Helper()
		st, err := fx.svc.Statistics(ctx, StatsRequest{By: ByInstitution})
		if err != nil {
			t.Fatal(err)
		}
		return st.Total
	}

	first := decide("MZ-1", OutcomeAccept, "")
	if first.Physician != "王医生" || first.PhysicianID != "token:tok-王医生" || first.Order != "MZ-1" {
		t.Errorf("decision signed %q (%q), order %q", first.Physician, first.PhysicianID, first.Order)
	}
	second := decide("MZ-1", OutcomeAccept, "")
	if got := total(); got.Recognised != 1 || got.SavedYuan != 150 {
		t.Errorf("two accepts of one order: %+v, want 1 recognised, 150 saved", got)
	}
	refusal := decide("MZ-1", OutcomeRefuse, ReasonImageQuality)
	if got := total(); got.Recognised != 0 || got.Refused != 1 || got.SavedYuan != 0 || got.RefusalsByReason[ReasonImageQuality] != 1 {
		t.Errorf("refusal after the accepts: %+v, want it to replace them", got)
	}
	decide("MZ-2", OutcomeAccept, "")
	if got := total(); got.Recognised != 1 || got.Refused != 1 {
		t.Errorf("another order: %+v, want 1 recognised and 1 refused", got)
	}

	hist, err := fx.svc.Decisions(ctx, DecisionFilter{Study: ctJS, Order: "MZ-1"})
	if err != nil || len(hist) != 3 {
		t.Fatalf("history of MZ-1: %d decisions (%v), want 3", len(hist), err)
	}
	if hist[0].SupersededBy != second.ID || hist[1].SupersededBy != refusal.ID || hist[2].SupersededBy != "" {
		t.Errorf("superseded by %q %q %q, want %q %q \"\"", hist[0].SupersededBy, hist[1].SupersededBy, hist[2].SupersededBy, second.ID, refusal.ID)
	}
	cur, _ := fx.svc.Decisions(ctx, DecisionFilter{Study: ctJS, Current: true})
	if len(cur) != 2 {
		t.Errorf("current decisions: %d, want 2 (one per order)", len(cur))
	}
	if _, err := fx.svc.Decide(context.Background(), DecisionRequest{Study: ctJS, Institution: "fahzu", Order: "MZ-3", Outcome: OutcomeAccept}); !errors.Is(err, ErrInvalid) {
		t.Errorf("decision without a principal: %v, want ErrInvalid", err)
	}
	if first.Supersedes != "" || second.Supersedes != first.ID || refusal.Supersedes != second.ID {
		t.Errorf("supersedes: %q %q %q", first.Supersedes, second.Supersedes, refusal.Supersedes)
	}
}

// TestDecisionsWrittenBefore reads decisions recorded before orders and
// principals (free-text physician, no order, the same study accepted
// twice and then refused by one institution): the latest per study and
// institution counts, from the index and from object storage alone; a
// new decision with an order supersedes them.
func TestDecisionsWrittenBefore(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ctJS := fx.study(t, "CT", "jsph")
	old := func(id, inst, outcome, reason string, at time.Time) {
		t.Helper()
		// The record as the earlier code wrote it, field for field.
		rec := map[string]any{"id": id, "study": ctJS, "institution": inst, "physician": "王医生", "outcome": outcome,
			"item": "CT01", "item_name": "CT", "price_yuan": 150, "holding_institution": "jsph", "region": "YRD",
			"valid_until": "2027-01-01", "at": at}
		if reason != "" {
			rec["reason"] = reason
		}
		if err := fx.rec.Create(ctx, kindDecisions, id, rec); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	old("20261120T020000Z-00000000000000aa", "fahzu", OutcomeAccept, "", t0)
	old("20261120T020000Z-00000000000000bb", "fahzu", OutcomeAccept, "", t0.Add(time.Second))
	old("20261121T020000Z-0000000000000011", "ayfy", OutcomeAccept, "", t0.Add(24*time.Hour))
	old("20261122T020000Z-00000000000000cc", "fahzu", OutcomeRefuse, ReasonIncomplete, t0.Add(48*time.Hour))

	check := func(svc *Service, from string) {
		t.Helper()
		st, err := svc.Statistics(ctx, StatsRequest{By: ByInstitution})
		if err != nil {
			t.Fatal(err)
		}
		if st.Total.Recognised != 1 || st.Total.Refused != 1 || st.Total.SavedYuan != 150 {
			t.Errorf("%s: total %+v, want ayfy's accept and fahzu's latest (the refusal)", from, st.Total)
		}
		ds, _ := svc.Decisions(ctx, DecisionFilter{Institution: "fahzu"})
		if len(ds) != 3 || ds[0].SupersededBy == "" || ds[2].SupersededBy != "" || ds[2].Outcome != OutcomeRefuse {
			b, _ := json.Marshal(ds)
			t.Errorf("%s: fahzu's history %s", from, b)
		}
	}
	check(fx.svc, "index")

	// Object storage alone: a fresh index rebuilt from the records.
	db2 := newIndex(t)
	rec2 := records.New(fx.store, db2)
	if _, err := rec2.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	svc2, err := New(ctx, db2, rec2, Options{Now: func() time.Time { return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	check(svc2, "rebuilt index")

	// Deciding again, now with an order: the old refusal no longer counts.
	tag, _ := fx.svc.Tag(ctx, ctJS, "fahzu")
	fx.now = at(t, tag.Anchor, 1)
	d, err := fx.svc.Decide(clinician("fahzu", "王医生"), DecisionRequest{Study: ctJS, Institution: "fahzu", Order: "MZ-9", Outcome: OutcomeAccept})
	if err != nil {
		t.Fatal(err)
	}
	if d.Supersedes != "20261122T020000Z-00000000000000cc" || !d.At.After(t0.Add(48*time.Hour)) {
		t.Errorf("the new decision supersedes %q at %v", d.Supersedes, d.At)
	}
	st, _ := fx.svc.Statistics(ctx, StatsRequest{By: ByInstitution})
	if st.Total.Recognised != 2 || st.Total.Refused != 0 {
		t.Errorf("after a decision with an order: %+v, want ayfy's and fahzu's new accept", st.Total)
	}
}

// TestTextsInBothLanguages: statuses, reasons, problems, notices and
// refusal reasons have a Chinese and an English text.
func TestTextsInBothLanguages(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ctJS := fx.study(t, "CT", "jsph")
	tag, err := fx.svc.Tag(ctx, ctJS, "pumch") // Beijing: outside the Yangtze River Delta
	if err != nil || tag.Status != StatusOutsideRegion {
		t.Fatalf("tag %+v %v", tag, err)
	}
	zh, en := tag.In(LangZH), tag.In(LangEN)
	if !strings.Contains(zh.Reason, "不属于") || !strings.HasSuffix(zh.Reason, "。") || zh.StatusText != "不在互认区域内" {
		t.Errorf("Chinese tag: %q %q", zh.StatusText, zh.Reason)
	}
	if !strings.Contains(en.Reason, "belongs to none") || en.StatusText != "Outside the recognition region" {
		t.Errorf("English tag: %q %q", en.StatusText, en.Reason)
	}
	for _, st := range []Status{StatusRecognised, StatusExpired, StatusNotEligible, StatusNotCertified, StatusOutsideRegion} {
		if StatusText(st, LangZH) == string(st) || StatusText(st, LangEN) == string(st) {
			t.Errorf("status %s has no text", st)
		}
	}
	for i, r := range RefusalReasons(LangZH) {
		if r.Text == "" || r.Text == RefusalReasons(LangEN)[i].Text {
			t.Errorf("refusal reason %s: %q", r.Code, r.Text)
		}
	}
	// An outcome recorded before problems had Chinese texts.
	e := Eligibility{Problems: []Problem{{Code: ProblemFutureStudyDate, Text: "StudyDate 2030-01-01 is in the future"}}}
	if got := e.In(LangZH); !strings.Contains(got.Problems[0].Text, "检查日期在未来") || !strings.HasPrefix(got.Explanation, "不符合互认条件") {
		t.Errorf("old outcome in Chinese: %+v", got)
	}
	if got := (OrderResult{Notice: "x", Results: []OrderHit{{Tag: tag}}}).In(LangZH); !strings.Contains(got.Notice, "授权") || got.Results[0].Reason != zh.Reason {
		t.Errorf("order check in Chinese: %+v", got)
	}
}

// newIndex opens an empty index for the test.
func newIndex(t *testing.T) *index.DB {
	t.Helper()
	db, err := index.Open(index.Options{Dir: filepath.Join(t.TempDir(), "index")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
