package recognition

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Decision outcomes.
const (
	OutcomeAccept = "accept"
	OutcomeRefuse = "refuse"
)

// Refusal reasons.
const (
	ReasonConditionChanged = "condition_changed" // the condition changed, or an acute case
	ReasonImageQuality     = "image_quality"
	ReasonIncomplete       = "incomplete"
	ReasonOther            = "other" // with a text
)

// refusalReasons lists the reasons in a fixed order (statistics use it).
func refusalReasons() []string {
	return []string{ReasonConditionChanged, ReasonImageQuality, ReasonIncomplete, ReasonOther}
}

// DecisionRequest is a physician's decision on a recognisable result.
type DecisionRequest struct {
	Study       string `json:"study"`
	Institution string `json:"institution"`
	Physician   string `json:"physician"`
	Outcome     string `json:"outcome"`
	Reason      string `json:"reason,omitempty"`
	Text        string `json:"text,omitempty"`
	// Item, when given, must be the study's item (the one ordered).
	Item string `json:"item,omitempty"`
}

// Decision is an immutable record decisions/{id}: what a physician of an
// institution decided about a result, with what the statistics need
// (item, price and region as they were then).
type Decision struct {
	ID          string    `json:"id"`
	Study       string    `json:"study"`
	Institution string    `json:"institution"`
	Physician   string    `json:"physician"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason,omitempty"`
	Text        string    `json:"text,omitempty"`
	Item        string    `json:"item"`
	ItemName    string    `json:"item_name"`
	PriceYuan   float64   `json:"price_yuan"`
	Holding     string    `json:"holding_institution"`
	Region      string    `json:"region"`
	ValidUntil  string    `json:"valid_until"`
	At          time.Time `json:"at"`
}

// validate checks the request on its own.
func (r *DecisionRequest) validate() error {
	switch {
	case strings.TrimSpace(r.Study) == "":
		return invalidf("study is required")
	case r.Institution == "":
		return invalidf("institution (the deciding institution) is required")
	case strings.TrimSpace(r.Physician) == "" || len(r.Physician) > 64:
		return invalidf("physician is required (at most 64 characters)")
	case len(r.Text) > 1024:
		return invalidf("text is longer than 1024 characters")
	}
	switch r.Outcome {
	case OutcomeAccept:
		if r.Reason != "" {
			return invalidf("an accepted result takes no reason")
		}
	case OutcomeRefuse:
		if !slices.Contains(refusalReasons(), r.Reason) {
			return invalidf("reason %q is not one of %s", r.Reason, strings.Join(refusalReasons(), ", "))
		}
		if r.Reason == ReasonOther && strings.TrimSpace(r.Text) == "" {
			return invalidf("reason other needs a text")
		}
	default:
		return invalidf("outcome %q is neither accept nor refuse", r.Outcome)
	}
	return nil
}

// Decide records a physician's decision. The study must be one the party
// in ctx may see (else ErrNotFound, as for a study that does not exist),
// and its tag for the deciding institution RECOGNISED (else
// ErrNotRecognisable); otherwise nothing is written. Decisions are never
// changed: a new decision is a new record.
func (s *Service) Decide(ctx context.Context, req DecisionRequest) (*Decision, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if req.Item != "" && s.state().items[req.Item] == nil {
		return nil, invalidf("unknown item code %q", req.Item)
	}
	t, err := s.Tag(ctx, req.Study, req.Institution)
	if err != nil {
		return nil, err
	}
	if !t.Recognised() {
		return nil, fmt.Errorf("%w: study %s is %s for %s: %s", ErrNotRecognisable, req.Study, t.Status, req.Institution, t.Reason)
	}
	if req.Item != "" && req.Item != t.Item {
		return nil, invalidf("study %s is a result for item %s, not %s", req.Study, t.Item, req.Item)
	}
	now := s.opt.Now().UTC()
	id, err := decisionID(now, s.opt.Rand)
	if err != nil {
		return nil, err
	}
	d := &Decision{
		ID: id, Study: req.Study, Institution: req.Institution, Physician: strings.TrimSpace(req.Physician),
		Outcome: req.Outcome, Reason: req.Reason, Text: strings.TrimSpace(req.Text),
		Item: t.Item, ItemName: t.ItemName, PriceYuan: t.PriceYuan, Holding: t.Holding,
		Region: t.Region, ValidUntil: t.ValidUntil, At: now,
	}
	if err := s.rec.Create(ctx, kindDecisions, id, d); err != nil {
		return nil, fmt.Errorf("store decision: %w", err)
	}
	return d, nil
}

// decisionID returns a time-ordered random id.
func decisionID(now time.Time, r io.Reader) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("decision id: %w", err)
	}
	return now.Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// DecisionFilter selects decisions; empty fields match everything.
type DecisionFilter struct {
	Study       string
	Institution string
}

// Decisions lists, in id (time) order, the decisions the party in ctx may
// read (see decisionVisible): they name physicians and carry free text.
func (s *Service) Decisions(ctx context.Context, f DecisionFilter) ([]*Decision, error) {
	all, err := s.decisions(ctx, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		if s.decisionVisible(ctx, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// decisions lists every decision the filter selects, in id (time) order.
func (s *Service) decisions(ctx context.Context, f DecisionFilter) ([]*Decision, error) {
	out := []*Decision{}
	err := s.rec.List(ctx, kindDecisions, func(id string, raw []byte) error {
		var d Decision
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("decode decision %s: %w", id, err)
		}
		if (f.Study == "" || d.Study == f.Study) && (f.Institution == "" || d.Institution == f.Institution) {
			out = append(out, &d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
