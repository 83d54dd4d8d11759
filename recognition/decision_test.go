package recognition

import (
	"context"
	"errors"
	"testing"

	"github.com/imgcloud/gateway/records"
)

// TestDecisionsAndStatistics records accepts and refusals, checks the
// refusals of bad input write nothing, that decisions are immutable, and
// that every grouping of the statistics sums to the same totals.
func TestDecisionsAndStatistics(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ctJS := fx.study(t, "CT", "jsph")
	otSH := fx.study(t, "OT", "zsh-fdu")
	mrBJ := fx.study(t, "MR", "pumch")
	tag, _ := fx.svc.Tag(ctx, ctJS, "fahzu")
	fx.now = at(t, tag.Anchor, 1)

	accept := DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept, Item: "CT01"}
	d1, err := fx.svc.Decide(ctx, accept)
	if err != nil {
		t.Fatal(err)
	}
	if d1.PriceYuan != 150 || d1.Region != "YRD" || d1.Holding != "jsph" {
		t.Errorf("decision %+v", d1)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Study: ctJS, Institution: "ayfy", Physician: "李医生", Outcome: OutcomeRefuse, Reason: ReasonConditionChanged}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Study: ctJS, Institution: "jsph", Physician: "赵医生", Outcome: OutcomeAccept}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Decide(ctx, DecisionRequest{Study: mrBJ, Institution: "tmugh", Physician: "刘医生", Outcome: OutcomeRefuse, Reason: ReasonOther, Text: "需要增强扫描"}); err != nil {
		t.Fatal(err)
	}

	bad := map[string]struct {
		req  DecisionRequest
		want error
	}{
		"not recognisable":     {DecisionRequest{Study: otSH, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept}, ErrNotRecognisable},
		"outside region":       {DecisionRequest{Study: ctJS, Institution: "pumch", Physician: "王医生", Outcome: OutcomeAccept}, ErrNotRecognisable},
		"unknown item":         {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept, Item: "ZZ9"}, ErrInvalid},
		"other item":           {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept, Item: "CT02"}, ErrInvalid},
		"refuse without":       {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeRefuse}, ErrInvalid},
		"other without text":   {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeRefuse, Reason: ReasonOther}, ErrInvalid},
		"accept with reason":   {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept, Reason: ReasonIncomplete}, ErrInvalid},
		"no physician":         {DecisionRequest{Study: ctJS, Institution: "fahzu", Outcome: OutcomeAccept}, ErrInvalid},
		"unknown study":        {DecisionRequest{Study: "1.2.3", Institution: "fahzu", Physician: "王医生", Outcome: OutcomeAccept}, ErrNotFound},
		"unknown institution":  {DecisionRequest{Study: ctJS, Institution: "mars", Physician: "王医生", Outcome: OutcomeAccept}, ErrNotFound},
		"strange outcome":      {DecisionRequest{Study: ctJS, Institution: "fahzu", Physician: "王医生", Outcome: "maybe"}, ErrInvalid},
		"missing institution:": {DecisionRequest{Study: ctJS, Physician: "王医生", Outcome: OutcomeAccept}, ErrInvalid},
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
