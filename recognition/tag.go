package recognition

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is a study's recognition status for an asking institution.
type Status string

// Statuses, as written in the private block (00111001).
const (
	StatusRecognised    Status = "RECOGNISED"
	StatusExpired       Status = "EXPIRED"
	StatusNotEligible   Status = "NOT_ELIGIBLE"
	StatusNotCertified  Status = "NOT_CERTIFIED"
	StatusOutsideRegion Status = "OUTSIDE_REGION"
)

// Tag is a study's recognition tag for an asking institution.
type Tag struct {
	Study  string `json:"study"`
	Status Status `json:"status"`
	// Asking is the institution the tag was computed for ("" when nobody
	// said: the region check is then left out).
	Asking string `json:"asking_institution,omitempty"`
	// Item is the catalogue item the study matches (also for statuses
	// other than RECOGNISED, when one matches).
	Item       string  `json:"item,omitempty"`
	ItemName   string  `json:"item_name,omitempty"`
	ItemNameEN string  `json:"item_name_en,omitempty"`
	PriceYuan  float64 `json:"price_yuan,omitempty"`
	// StudyDate is the StudyDate as YYYY-MM-DD; Anchor the day the validity
	// window counts from; ValidUntil its last day.
	StudyDate  string `json:"study_date,omitempty"`
	Anchor     string `json:"anchor,omitempty"`
	ValidUntil string `json:"valid_until,omitempty"`
	// Scope are the regions where the result counts: the item's regions
	// that the holding institution belongs to.
	Scope []string `json:"scope,omitempty"`
	// Region is the narrowest scope region the asking institution shares.
	Region  string `json:"region,omitempty"`
	Holding string `json:"holding_institution,omitempty"`
	// Reason explains, in a sentence, a status other than RECOGNISED.
	Reason string `json:"reason,omitempty"`
}

// Recognised reports whether the result can replace a new exam.
func (t *Tag) Recognised() bool { return t.Status == StatusRecognised }

// evaluate computes the tag of a study from its facts, what the ingest
// check found (elig, may be nil), the asking institution id ("" for none)
// and the current time. It is a pure function of its inputs.
func (s *state) evaluate(f *Facts, elig *Eligibility, asking string, now time.Time) Tag {
	t := s.decide(f, elig, asking, now)
	t.Reason = sentence(t.Reason)
	return t
}

// decide is evaluate before the reason is made a sentence.
func (s *state) decide(f *Facts, elig *Eligibility, asking string, now time.Time) Tag {
	t := Tag{Study: f.Study, Asking: asking}
	if !f.StudyDate.IsZero() {
		t.StudyDate = isoDate(f.StudyDate)
	}
	holding := s.holdingOf(f, elig)
	if holding != nil {
		t.Holding = holding.ID
	}
	item := bestItem(s.sortedItems, f)
	if item != nil {
		t.Item, t.ItemName, t.ItemNameEN, t.PriceYuan = item.Code, item.Name, item.NameEN, item.PriceYuan
	}
	today := day(now)
	anchor, hasAnchor := f.anchor()
	if hasAnchor && item != nil {
		t.Anchor = isoDate(anchor)
		t.ValidUntil = isoDate(anchor.AddDate(0, 0, item.ValidityDays))
	}

	// Not eligible: what the study itself lacks.
	var problems []string
	if elig != nil {
		for _, p := range elig.Problems {
			if p.structural() {
				problems = append(problems, p.Text)
			}
		}
	} else {
		for _, p := range structuralProblems(f, today) {
			problems = append(problems, p.Text)
		}
	}
	switch {
	case holding == nil:
		problems = append(problems, "the institution that produced the study is not in the registry")
	case item == nil:
		problems = append(problems, "no catalogue item matches the study (modality, body part, description)")
	}
	if len(problems) > 0 {
		t.Status, t.Reason = StatusNotEligible, strings.Join(problems, "; ")
		return t
	}

	if !holding.CertifiedOn(f.StudyDate) {
		t.Status = StatusNotCertified
		t.Reason = fmt.Sprintf("%s had no valid imaging quality-control certification on the study date %s", holding.Name, t.StudyDate)
		return t
	}

	t.Scope = s.scope(item, holding)
	if len(t.Scope) == 0 {
		t.Status = StatusOutsideRegion
		t.Reason = fmt.Sprintf("item %s counts in %s, and %s belongs to none of them", item.Code, strings.Join(item.Regions, ", "), holding.Name)
		return t
	}
	if asking != "" {
		ask := s.institutions[asking]
		switch {
		case ask == nil:
			t.Status = StatusOutsideRegion
			t.Reason = fmt.Sprintf("the asking institution %s is not in the registry", asking)
			return t
		case ask.ID == holding.ID:
			t.Region = t.Scope[0]
		default:
			i := slices.IndexFunc(t.Scope, ask.MemberOf)
			if i < 0 {
				t.Status = StatusOutsideRegion
				t.Reason = fmt.Sprintf("%s is recognised in %s, and %s belongs to none of them", item.Name, s.regionNames(t.Scope), ask.Name)
				return t
			}
			t.Region = t.Scope[i]
		}
	}

	until := anchor.AddDate(0, 0, item.ValidityDays)
	if today.After(until) {
		t.Status = StatusExpired
		t.Reason = fmt.Sprintf("the %d-day validity of %s counted from %s ended on %s", item.ValidityDays, item.Name, t.Anchor, t.ValidUntil)
		return t
	}
	t.Status = StatusRecognised
	return t
}

// holdingOf returns the institution holding the study: the one recorded at
// ingest (the pushing PACS's, or the name mapping of then), else the name
// and issuer mapping of now.
func (s *state) holdingOf(f *Facts, elig *Eligibility) *Institution {
	if elig != nil && elig.Holding != "" {
		// Recorded: never guessed again from names, which a later
		// instance may carry (nil when it left the registry).
		return s.institutions[elig.Holding]
	}
	in, _ := s.attribute(f)
	return in
}

// scope returns the item's regions the holding institution belongs to,
// narrowest first ("province" becomes the province code).
func (s *state) scope(item *Item, holding *Institution) []string {
	var out []string
	for _, r := range item.Regions {
		if r == scopeProvince {
			r = holding.Province
		}
		if holding.MemberOf(r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return kindRank(s.regionKind(a)) - kindRank(s.regionKind(b)) })
	return out
}

// regionNames lists region names for a sentence.
func (s *state) regionNames(ids []string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = s.regionName(id)
	}
	return strings.Join(names, "、")
}

// sentence makes s start with a capital letter and end with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
