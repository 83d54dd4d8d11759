package recognition

import (
	"slices"
	"strings"
)

// scopeProvince in an item's regions stands for the holding institution's
// own province: the baseline of mutual recognition.
const scopeProvince = "province"

// Item is one entry of the recognition catalogue (互认项目).
type Item struct {
	// Code is short and path-safe, e.g. CT01.
	Code   string `json:"code" yaml:"code"`
	Name   string `json:"name" yaml:"name"` // Chinese
	NameEN string `json:"name_en" yaml:"name_en"`
	Match  Match  `json:"match" yaml:"match"`
	// ValidityDays is how long a result counts, from the stricter of
	// StudyDate and the day the gateway received the study.
	ValidityDays int `json:"validity_days" yaml:"validity_days"`
	// PriceYuan is what the exam costs, counted as saved when a result is
	// accepted instead of repeated.
	PriceYuan float64 `json:"price_yuan" yaml:"price_yuan"`
	// Regions are where the item counts: region ids, or "province" for the
	// holding institution's province.
	Regions []string `json:"regions" yaml:"regions"`
	// Line is where the item was defined in a configuration file.
	Line int `json:"-" yaml:"-"`
}

// Match says what studies an item covers. A study matches when one of its
// procedure codes is listed, or else when its modality is listed, a listed
// body part or keyword is found (when the item lists any) and no excluded
// keyword is.
type Match struct {
	// Modalities, e.g. CT, MR, DX, CR, MG, US, PT (required).
	Modalities []string `json:"modalities" yaml:"modalities"`
	// BodyParts are BodyPartExamined (0018,0015) values, e.g. HEAD, CHEST.
	BodyParts []string `json:"body_parts,omitempty" yaml:"body_parts,omitempty"`
	// ProcedureCodes are CodeValues of (Requested)ProcedureCodeSequence.
	ProcedureCodes []string `json:"procedure_codes,omitempty" yaml:"procedure_codes,omitempty"`
	// Keywords are looked for, case-insensitively, in the study, series and
	// requested procedure descriptions. They stand in for the body part when
	// a study carries no BodyPartExamined.
	Keywords []string `json:"keywords,omitempty" yaml:"keywords,omitempty"`
	// ExcludeKeywords rule a study out, e.g. 增强 (contrast) for plain scans.
	ExcludeKeywords []string `json:"exclude_keywords,omitempty" yaml:"exclude_keywords,omitempty"`
}

// validate checks an item on its own; regions are checked against the
// registry by the caller.
func (it *Item) validate() error {
	switch {
	case !validID(it.Code):
		return invalidf("item code %q: use letters, digits, '.', '_' or '-' (at most 64)", it.Code)
	case strings.TrimSpace(it.Name) == "":
		return invalidf("item %s: name is required", it.Code)
	case strings.TrimSpace(it.NameEN) == "":
		return invalidf("item %s: name_en is required", it.Code)
	case len(it.Match.Modalities) == 0:
		return invalidf("item %s: match.modalities is required", it.Code)
	case it.ValidityDays <= 0 || it.ValidityDays > 3650:
		return invalidf("item %s: validity_days must be between 1 and 3650, not %d", it.Code, it.ValidityDays)
	case it.PriceYuan < 0 || it.PriceYuan > 1e6:
		return invalidf("item %s: price_yuan must be between 0 and 1000000, not %g", it.Code, it.PriceYuan)
	case len(it.Regions) == 0:
		return invalidf("item %s: regions is required (use \"province\" for the holding institution's province)", it.Code)
	}
	for _, m := range it.Match.Modalities {
		if !isCS(m) {
			return invalidf("item %s: modality %q is not a DICOM code string such as CT", it.Code, m)
		}
	}
	for _, b := range it.Match.BodyParts {
		if !isCS(b) {
			return invalidf("item %s: body part %q is not a DICOM code string such as HEAD", it.Code, b)
		}
	}
	for _, k := range slices.Concat(it.Match.Keywords, it.Match.ExcludeKeywords, it.Match.ProcedureCodes) {
		if strings.TrimSpace(k) == "" {
			return invalidf("item %s: empty keyword or procedure code", it.Code)
		}
	}
	for _, r := range it.Regions {
		if r != scopeProvince && !validID(r) {
			return invalidf("item %s: region %q is not a region id", it.Code, r)
		}
	}
	return nil
}

// isCS reports whether s is a plausible CS value: upper-case letters,
// digits, space and underscore, at most 16 characters.
func isCS(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ' ') {
			return false
		}
	}
	return true
}

// score says how well a study matches the item: 0 when it does not, more
// for more specific evidence (a procedure code beats everything).
func (it *Item) score(f *Facts) int {
	m := &it.Match
	for _, c := range f.Codes {
		if slices.Contains(m.ProcedureCodes, c) {
			return 100
		}
	}
	if !intersects(m.Modalities, f.Modalities) {
		return 0
	}
	for _, k := range m.ExcludeKeywords {
		if f.mentions(k) {
			return 0
		}
	}
	score := 1
	keyword := slices.ContainsFunc(m.Keywords, f.mentions)
	if keyword {
		score += 2
	}
	switch {
	case len(m.BodyParts) > 0 && len(f.BodyParts) > 0:
		// The study says what it examined: that decides.
		if !intersects(m.BodyParts, f.BodyParts) {
			return 0
		}
		score += 3
	case len(m.BodyParts) > 0 || len(m.Keywords) > 0:
		if !keyword {
			return 0
		}
	}
	return score
}

// intersects reports whether a and b share a value.
func intersects(a, b []string) bool {
	return slices.ContainsFunc(a, func(s string) bool { return slices.Contains(b, s) })
}

// bestItem returns the catalogue item that matches the study best, or nil;
// ties go to the smaller code.
func bestItem(items []*Item, f *Facts) *Item {
	var best *Item
	bestScore := 0
	for _, it := range items {
		s := it.score(f)
		if s > bestScore || (s == bestScore && s > 0 && it.Code < best.Code) {
			best, bestScore = it, s
		}
	}
	return best
}
