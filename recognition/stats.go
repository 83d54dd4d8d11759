package recognition

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
)

// Statistics groupings.
const (
	ByMonth       = "month"
	ByRegion      = "region"
	ByInstitution = "institution"
	ByItem        = "item"
)

// StatsRequest selects what Statistics counts.
type StatsRequest struct {
	// By is month (of the decision, China time), region (where the result
	// was recognised), institution (the deciding one) or item.
	By string
	// From and To bound the decision day, inclusive (zero: unbounded).
	From, To time.Time
}

// Stats is the statistics answer (the viewer's chart page reads it).
type Stats struct {
	By    string     `json:"by"`
	Rows  []StatsRow `json:"rows"`
	Total StatsRow   `json:"total"`
}

// StatsRow counts the decisions of one group.
type StatsRow struct {
	Key string `json:"key"`
	// Label names the key for people (institution, region or item name).
	Label string `json:"label,omitempty"`
	// Recognised counts accepted results: exams not repeated.
	Recognised int `json:"recognised"`
	Refused    int `json:"refused"`
	// RefusalsByReason has every reason, zeros included.
	RefusalsByReason map[string]int `json:"refusals_by_reason"`
	// SavedYuan is the price of the exams not repeated.
	SavedYuan float64 `json:"saved_yuan"`
}

// Statistics counts the current decisions (one per study, institution and
// order: the latest) by month, region, institution or item.
func (s *Service) Statistics(ctx context.Context, req StatsRequest) (*Stats, error) {
	if !slices.Contains([]string{ByMonth, ByRegion, ByInstitution, ByItem}, req.By) {
		return nil, invalidf("by %q is not one of month, region, institution, item", req.By)
	}
	if !req.From.IsZero() && !req.To.IsZero() && req.To.Before(req.From) {
		return nil, invalidf("to is before from")
	}
	// Counts only: every decision, whoever asks (no study, physician or text).
	ds, err := s.decisions(ctx, DecisionFilter{})
	if err != nil {
		return nil, err
	}
	st := s.state()
	out := &Stats{By: req.By, Rows: []StatsRow{}, Total: newRow("total", "")}
	at := map[string]int{}
	for _, d := range ds {
		if d.SupersededBy != "" {
			continue // a later decision on the same order counts instead
		}
		dd := day(d.At)
		if (!req.From.IsZero() && dd.Before(day(req.From))) || (!req.To.IsZero() && dd.After(day(req.To))) {
			continue
		}
		key, label := groupOf(st, d, req.By)
		i, ok := at[key]
		if !ok {
			i = len(out.Rows)
			at[key] = i
			out.Rows = append(out.Rows, newRow(key, label))
		}
		out.Rows[i].add(d)
		out.Total.add(d)
	}
	slices.SortFunc(out.Rows, func(a, b StatsRow) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// groupOf returns the group key of a decision and a label for it.
func groupOf(st *state, d *Decision, by string) (key, label string) {
	switch by {
	case ByMonth:
		return d.At.In(chinaTime()).Format("2006-01"), ""
	case ByRegion:
		return d.Region, st.regionName(d.Region)
	case ByInstitution:
		if in := st.institutions[d.Institution]; in != nil {
			return d.Institution, in.Name
		}
		return d.Institution, ""
	}
	return d.Item, d.ItemName
}

func newRow(key, label string) StatsRow {
	r := StatsRow{Key: key, Label: label, RefusalsByReason: map[string]int{}}
	for _, reason := range refusalReasons() {
		r.RefusalsByReason[reason] = 0
	}
	return r
}

// add counts one decision.
func (r *StatsRow) add(d *Decision) {
	if d.Outcome == OutcomeAccept {
		r.Recognised++
		// Sums of yuan prices: round to the fen to keep float noise out.
		r.SavedYuan = math.Round((r.SavedYuan+d.PriceYuan)*100) / 100
		return
	}
	r.Refused++
	r.RefusalsByReason[d.Reason]++
}
