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
	// StatusText names the status for people; set by In.
	StatusText string `json:"status_text,omitempty"`
	// Reason explains, in a sentence, a status other than RECOGNISED: in
	// English, or in the language In chose. reasonZH is the Chinese.
	Reason   string `json:"reason,omitempty"`
	reasonZH string
}

// Recognised reports whether the result can replace a new exam.
func (t *Tag) Recognised() bool { return t.Status == StatusRecognised }

// evaluate computes the tag of a study from its facts, what the ingest
// check found (elig, may be nil), the asking institution id ("" for none)
// and the current time. It is a pure function of its inputs.
func (s *state) evaluate(f *Facts, elig *Eligibility, asking string, now time.Time) Tag {
	t := s.decide(f, elig, asking, now)
	t.Reason, t.reasonZH = sentence(t.Reason), sentenceZH(t.reasonZH)
	return t
}

// why sets the status and its reason in both languages.
func (t *Tag) why(st Status, r text) {
	t.Status, t.Reason, t.reasonZH = st, r.en, r.zh
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
	var problems []Problem
	if elig != nil {
		for _, p := range elig.Problems {
			if p.structural() {
				problems = append(problems, p)
			}
		}
	} else {
		problems = structuralProblems(f, today)
	}
	switch {
	case holding == nil:
		problems = append(problems, problem(ProblemUnknownInstitution, text{"产生该检查的机构不在登记名录中", "the institution that produced the study is not in the registry"}))
	case item == nil:
		problems = append(problems, problem(ProblemNoItem, noItem))
	}
	if len(problems) > 0 {
		var zh, en []string
		for _, p := range problems {
			zh, en = append(zh, p.in(LangZH)), append(en, p.in(LangEN))
		}
		t.why(StatusNotEligible, text{strings.Join(zh, "；"), strings.Join(en, "; ")})
		return t
	}

	if !holding.CertifiedOn(f.StudyDate) {
		t.why(StatusNotCertified, text{
			fmt.Sprintf("%s在检查日期 %s 没有有效的影像质控认证", holding.Name, t.StudyDate),
			fmt.Sprintf("%s had no valid imaging quality-control certification on the study date %s", holding.Name, t.StudyDate)})
		return t
	}

	t.Scope = s.scope(item, holding)
	if len(t.Scope) == 0 {
		t.why(StatusOutsideRegion, text{
			fmt.Sprintf("项目 %s 在%s互认，%s不属于其中任何一个", item.Code, s.regionNames(item.Regions), holding.Name),
			fmt.Sprintf("item %s counts in %s, and %s belongs to none of them", item.Code, strings.Join(item.Regions, ", "), holding.Name)})
		return t
	}
	if asking != "" {
		ask := s.institutions[asking]
		switch {
		case ask == nil:
			t.why(StatusOutsideRegion, text{
				fmt.Sprintf("提出查询的机构 %s 不在登记名录中", asking),
				fmt.Sprintf("the asking institution %s is not in the registry", asking)})
			return t
		case ask.ID == holding.ID:
			t.Region = t.Scope[0]
		default:
			i := slices.IndexFunc(t.Scope, ask.MemberOf)
			if i < 0 {
				t.why(StatusOutsideRegion, text{
					fmt.Sprintf("%s在%s互认，%s不属于其中任何一个", item.Name, s.regionNames(t.Scope), ask.Name),
					fmt.Sprintf("%s is recognised in %s, and %s belongs to none of them", item.Name, s.regionNames(t.Scope), ask.Name)})
				return t
			}
			t.Region = t.Scope[i]
		}
	}

	until := anchor.AddDate(0, 0, item.ValidityDays)
	if today.After(until) {
		t.why(StatusExpired, text{
			fmt.Sprintf("%s的 %d 天有效期自 %s 起算，已于 %s 结束", item.Name, item.ValidityDays, t.Anchor, t.ValidUntil),
			fmt.Sprintf("the %d-day validity of %s counted from %s ended on %s", item.ValidityDays, item.Name, t.Anchor, t.ValidUntil)})
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
