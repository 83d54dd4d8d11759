package recognition

import (
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Tags read from index rows.
const (
	tagStudyDate         = "00080020"
	tagModality          = "00080060"
	tagInstitutionName   = "00080080"
	tagStudyDescription  = "00081030"
	tagProcedureCodes    = "00081032"
	tagSeriesDescription = "0008103E"
	tagPatientID         = "00100020"
	tagIssuer            = "00100021"
	tagBodyPart          = "00180015"
	tagRequestedDesc     = "00321060"
	tagRequestedCodes    = "00321064"
	tagCodeValue         = "00080100"
	tagInstanceNumber    = "00200013"
)

// Facts are what recognition reads from a study's index rows.
type Facts struct {
	Study string
	// StudyDateRaw is the StudyDate as written; StudyDate is it parsed
	// (zero when absent or malformed).
	StudyDateRaw string
	StudyDate    time.Time
	// Received is when the gateway first received the study.
	Received         time.Time
	PatientID        string
	Issuer           string
	InstitutionNames []string
	Modalities       []string
	BodyParts        []string
	// Texts are the study, series and requested procedure descriptions,
	// lower-cased.
	Texts []string
	// Codes are the CodeValues of the procedure code sequences.
	Codes []string
	// SeriesWithoutModality counts series rows lacking Modality.
	SeriesWithoutModality int
}

// factsOf gathers the facts of a study row and its series rows.
func factsOf(st *index.Study, series []*index.Series) *Facts {
	a := st.Attrs
	f := &Facts{
		Study:        st.UID,
		StudyDateRaw: strings.TrimSpace(a.String(tagStudyDate)),
		Received:     st.Received,
		PatientID:    strings.TrimSpace(a.String(tagPatientID)),
		Issuer:       strings.TrimSpace(a.String(tagIssuer)),
	}
	if d, err := parseDA(f.StudyDateRaw); err == nil {
		f.StudyDate = d
	}
	add := func(list *[]string, v string) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	add(&f.InstitutionNames, a.String(tagInstitutionName))
	add(&f.Texts, strings.ToLower(a.String(tagStudyDescription)))
	add(&f.Texts, strings.ToLower(a.String(tagRequestedDesc)))
	for _, m := range st.Modalities {
		add(&f.Modalities, strings.ToUpper(m))
	}
	for _, tag := range []string{tagProcedureCodes, tagRequestedCodes} {
		for _, c := range codeValues(a, tag) {
			add(&f.Codes, c)
		}
	}
	for _, se := range series {
		s := se.Attrs
		if m := strings.ToUpper(strings.TrimSpace(s.String(tagModality))); m != "" {
			add(&f.Modalities, m)
		} else {
			f.SeriesWithoutModality++
		}
		add(&f.BodyParts, strings.ToUpper(s.String(tagBodyPart)))
		add(&f.Texts, strings.ToLower(s.String(tagSeriesDescription)))
		add(&f.InstitutionNames, s.String(tagInstitutionName))
	}
	return f
}

// codeValues returns the CodeValues of the items of a code sequence.
func codeValues(d dcm.Dataset, tag string) []string {
	e := d[tag]
	if e == nil {
		return nil
	}
	var out []string
	for _, v := range e.Value {
		var item dcm.Dataset
		switch v := v.(type) {
		case dcm.Dataset:
			item = v
		case map[string]any:
			// A row decoded without the dcm types: look for the CodeValue.
			if e, ok := v[tagCodeValue].(map[string]any); ok {
				if vals, ok := e["Value"].([]any); ok && len(vals) > 0 {
					if s, ok := vals[0].(string); ok {
						out = append(out, strings.TrimSpace(s))
					}
				}
			}
			continue
		default:
			continue
		}
		if c := strings.TrimSpace(item.String(tagCodeValue)); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// mentions reports whether a description contains the keyword,
// case-insensitively.
func (f *Facts) mentions(keyword string) bool {
	k := strings.ToLower(strings.TrimSpace(keyword))
	if k == "" {
		return false
	}
	return slices.ContainsFunc(f.Texts, func(t string) bool { return strings.Contains(t, k) })
}

// anchor returns the day a validity window counts from: the earlier of
// StudyDate and the day of receipt, so a wrong StudyDate cannot stretch a
// window. ok is false when neither is known.
func (f *Facts) anchor() (time.Time, bool) {
	switch {
	case f.StudyDate.IsZero() && f.Received.IsZero():
		return time.Time{}, false
	case f.StudyDate.IsZero():
		return day(f.Received), true
	case f.Received.IsZero():
		return f.StudyDate, true
	}
	r := day(f.Received)
	if r.Before(f.StudyDate) {
		return r, true
	}
	return f.StudyDate, true
}
