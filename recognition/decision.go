package recognition

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/imgcloud/gateway/auth"
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

// DecisionRequest is a physician's decision on a recognisable result for
// one order (or visit) of the deciding institution. The physician is the
// authenticated principal, never a name in the request.
type DecisionRequest struct {
	Study       string `json:"study"`
	Institution string `json:"institution"`
	// Order is the order or visit number (医嘱号/就诊号) the result stands
	// in for: required, so that one result can count once per order.
	Order string `json:"order"`
	// Physician is refused when set: who decides is who signed in.
	Physician string `json:"physician,omitempty"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	Text      string `json:"text,omitempty"`
	// Item, when given, must be the study's item (the one ordered).
	Item string `json:"item,omitempty"`
}

// Decision is an immutable record decisions/{id}: what a physician of an
// institution decided about a result for an order, with what the
// statistics need (item, price and region as they were then). A later
// decision on the same (study, institution, order) supersedes it: both
// stay in the history, only the latest counts.
type Decision struct {
	ID          string `json:"id"`
	Study       string `json:"study"`
	Institution string `json:"institution"`
	// Order is the order or visit number; "" in records written before
	// orders were asked for (they then share one key per study and
	// institution).
	Order string `json:"order,omitempty"`
	// Physician names the physician for people (the principal's user
	// name); PhysicianID is the credential (auth.Principal.ID), absent in
	// records of free-text physicians written before.
	Physician   string  `json:"physician"`
	PhysicianID string  `json:"physician_id,omitempty"`
	Outcome     string  `json:"outcome"`
	Reason      string  `json:"reason,omitempty"`
	Text        string  `json:"text,omitempty"`
	Item        string  `json:"item"`
	ItemName    string  `json:"item_name"`
	PriceYuan   float64 `json:"price_yuan"`
	Holding     string  `json:"holding_institution"`
	Region      string  `json:"region"`
	ValidUntil  string  `json:"valid_until"`
	// At is when the decision was taken, never before the decision it
	// supersedes (Supersedes, its id), so that time orders a key's history.
	At         time.Time `json:"at"`
	Supersedes string    `json:"supersedes,omitempty"`
	// SupersededBy is the id of the later decision on the same key;
	// computed when read, never stored.
	SupersededBy string `json:"superseded_by,omitempty"`
	// OutcomeText and ReasonText say the outcome and reason for people in
	// the asked language; set by In, never stored.
	OutcomeText string `json:"outcome_text,omitempty"`
	ReasonText  string `json:"reason_text,omitempty"`
}

// key is what a decision decides: one result for one order of one
// institution.
func (d *Decision) key() string { return d.pair() + "\x00" + d.Order }

// pair is the study and the deciding institution. A decision recorded
// before orders existed (Order "") may have been for any order: every
// later decision on its pair supersedes it, so that accepting it again
// with an order does not count it twice.
func (d *Decision) pair() string { return d.Study + "\x00" + d.Institution }

// maxOrder bounds an order number.
const maxOrder = 64

// validate checks the request on its own.
func (r *DecisionRequest) validate() error {
	switch {
	case strings.TrimSpace(r.Study) == "":
		return invalidf("study is required")
	case r.Institution == "":
		return invalidf("institution (the deciding institution) is required")
	case r.Physician != "":
		return invalidf("physician is not taken from the request: the decision is signed by the credentials that send it")
	case strings.TrimSpace(r.Order) == "":
		return invalidf("order (the order or visit number the result stands in for) is required")
	case len(r.Order) > maxOrder || strings.ContainsFunc(r.Order, unicode.IsControl):
		return invalidf("order is longer than %d characters or holds control characters", maxOrder)
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

// Decide records the decision of the physician signed in (the principal
// in ctx). The study must be one that party may see (else ErrNotFound, as
// for a study that does not exist), and its tag for the deciding
// institution RECOGNISED (else ErrNotRecognisable); otherwise nothing is
// written. Decisions are never changed: a new decision is a new record,
// and the latest on a (study, institution, order) is the one that counts.
func (s *Service) Decide(ctx context.Context, req DecisionRequest) (*Decision, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	p, _ := auth.FromContext(ctx)
	name, pid := strings.TrimSpace(p.User), p.ID()
	if name == "" {
		name = pid
	}
	if name == "" {
		return nil, invalidf("a decision needs a signed-in physician: send it with your own credentials")
	}
	if req.Item != "" && s.state().items[req.Item] == nil {
		return nil, invalidf("unknown item code %q", req.Item)
	}
	t, err := s.Tag(ctx, req.Study, req.Institution)
	if err != nil {
		return nil, err
	}
	if !t.Recognised() {
		return nil, notRecognisable(t)
	}
	if req.Item != "" && req.Item != t.Item {
		return nil, invalidf("study %s is a result for item %s, not %s", req.Study, t.Item, req.Item)
	}
	// One decision at a time, so that each follows the one it supersedes.
	s.deciding.Lock()
	defer s.deciding.Unlock()
	now := s.opt.Now().UTC()
	prev, err := s.currentDecision(ctx, req.Study, req.Institution, strings.TrimSpace(req.Order))
	if err != nil {
		return nil, err
	}
	if prev != nil && !now.After(prev.At) {
		now = prev.At.Add(time.Nanosecond) // a clock that stood still or went back
	}
	id, err := decisionID(now, s.opt.Rand)
	if err != nil {
		return nil, err
	}
	d := &Decision{
		ID: id, Study: req.Study, Institution: req.Institution, Order: strings.TrimSpace(req.Order),
		Physician: name, PhysicianID: pid,
		Outcome: req.Outcome, Reason: req.Reason, Text: strings.TrimSpace(req.Text),
		Item: t.Item, ItemName: t.ItemName, PriceYuan: t.PriceYuan, Holding: t.Holding,
		Region: t.Region, ValidUntil: t.ValidUntil, At: now,
	}
	if prev != nil {
		d.Supersedes = prev.ID
	}
	if err := s.rec.Create(ctx, kindDecisions, id, d); err != nil {
		return nil, fmt.Errorf("store decision: %w", err)
	}
	return d, nil
}

// currentDecision returns the decision a new one on the key supersedes:
// the current one of the key, else a current one recorded without an
// order on the same study and institution; nil when there is none.
func (s *Service) currentDecision(ctx context.Context, study, institution, order string) (*Decision, error) {
	ds, err := s.decisions(ctx, DecisionFilter{Study: study, Institution: institution})
	if err != nil {
		return nil, err
	}
	var legacy *Decision
	for _, d := range ds {
		switch {
		case d.SupersededBy != "":
		case d.Order == order:
			return d, nil
		case d.Order == "":
			legacy = d
		}
	}
	return legacy, nil
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
	Order       string
	// Current leaves superseded decisions out.
	Current bool
}

// Decisions lists, in time order, the decisions the party in ctx may
// read (see decisionVisible): they name physicians and carry free text.
// Each superseded one names the decision that superseded it.
func (s *Service) Decisions(ctx context.Context, f DecisionFilter) ([]*Decision, error) {
	all, err := s.decisions(ctx, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		if (!f.Current || d.SupersededBy == "") && (f.Order == "" || d.Order == f.Order) && s.decisionVisible(ctx, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// decisions lists every decision on the filter's study and institution,
// in time order (At, then id: records written in the same second keep
// the order of their clocks), with SupersededBy set.
func (s *Service) decisions(ctx context.Context, f DecisionFilter) ([]*Decision, error) {
	out := []*Decision{}
	err := s.rec.List(ctx, kindDecisions, func(id string, raw []byte) error {
		var d Decision
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("decode decision %s: %w", id, err)
		}
		d.SupersededBy, d.OutcomeText, d.ReasonText = "", "", "" // computed, never read from a record
		if (f.Study == "" || d.Study == f.Study) && (f.Institution == "" || d.Institution == f.Institution) {
			out = append(out, &d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *Decision) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID))
	})
	// Walking back in time, next holds the following decision of each key
	// and of each pair.
	next := map[string]*Decision{}
	for i := len(out) - 1; i >= 0; i-- {
		d := out[i]
		n := next[d.key()]
		if d.Order == "" {
			n = next[d.pair()]
		}
		if n != nil {
			d.SupersededBy = n.ID
		}
		next[d.key()], next[d.pair()] = d, d
	}
	return out, nil
}
