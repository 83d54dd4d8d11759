package recognition

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/index"
)

// Problem codes of the eligibility check.
const (
	ProblemMissingAttribute   = "missing_attribute"
	ProblemInvalidStudyDate   = "invalid_study_date"
	ProblemFutureStudyDate    = "future_study_date"
	ProblemIncompleteSeries   = "incomplete_series"
	ProblemUnknownInstitution = "unknown_institution"
	ProblemNoItem             = "no_catalogue_item"
	ProblemNotCertified       = "not_certified"
)

// Problem is one reason a study is not eligible for recognition.
type Problem struct {
	Code string `json:"code"`
	Text string `json:"text"`
	// TextZH is the Chinese text (absent in outcomes recorded before; the
	// code's text stands in, see Eligibility.In).
	TextZH string `json:"text_zh,omitempty"`
}

// structural reports whether the problem is in the study itself, as
// opposed to the registry or catalogue, which the tag re-reads each time.
func (p Problem) structural() bool {
	switch p.Code {
	case ProblemMissingAttribute, ProblemInvalidStudyDate, ProblemFutureStudyDate, ProblemIncompleteSeries:
		return true
	}
	return false
}

// Eligibility is the outcome of the check made when a study is stored,
// kept as the record eligibility/{StudyInstanceUID}.
type Eligibility struct {
	Study string `json:"study"`
	// Eligible is true when no problem was found.
	Eligible bool      `json:"eligible"`
	Problems []Problem `json:"problems,omitempty"`
	// Holding is the institution the study was attributed to, and
	// AttributedBy how: "pacs" (the pushing PACS's identity),
	// "institution_name" or "issuer".
	Holding      string `json:"holding_institution,omitempty"`
	AttributedBy string `json:"attributed_by,omitempty"`
	// Issuer is the IssuerOfPatientID of the study, or the holding
	// institution's default when the study carries none.
	Issuer    string    `json:"issuer,omitempty"`
	Item      string    `json:"item,omitempty"`
	StudyDate string    `json:"study_date,omitempty"`
	Received  time.Time `json:"received"`
	Anchor    string    `json:"anchor,omitempty"`
	Series    int       `json:"series"`
	Instances int       `json:"instances"`
	CheckedAt time.Time `json:"checked_at"`
	// Explanation sums the outcome up in a sentence.
	Explanation string `json:"explanation"`
}

// structuralProblems finds what a study lacks from its index rows alone.
func structuralProblems(f *Facts, today time.Time) []Problem {
	var out []Problem
	missing := func(name string) {
		out = append(out, problem(ProblemMissingAttribute, text{"缺少 " + name, name + " is missing"}))
	}
	switch {
	case f.StudyDateRaw == "":
		missing("StudyDate (0008,0020)")
	case f.StudyDate.IsZero():
		out = append(out, problem(ProblemInvalidStudyDate, text{fmt.Sprintf("检查日期 StudyDate %q 不是有效日期", f.StudyDateRaw), fmt.Sprintf("StudyDate %q is not a valid date", f.StudyDateRaw)}))
	case f.StudyDate.After(today):
		out = append(out, problem(ProblemFutureStudyDate, text{fmt.Sprintf("检查日期 StudyDate %s 在未来", isoDate(f.StudyDate)), fmt.Sprintf("StudyDate %s is in the future", isoDate(f.StudyDate))}))
	}
	if f.PatientID == "" {
		missing("PatientID (0010,0020)")
	}
	if len(f.Modalities) == 0 || f.SeriesWithoutModality > 0 {
		missing("Modality (0008,0060) of a series")
	}
	return out
}

// seriesProblems checks that every series is complete: InstanceNumbers
// run from 1 without gaps (a series sent in part cannot stand in for an
// exam).
func seriesProblems(db Index, study string) ([]Problem, int, int, error) {
	var out []Problem
	nSeries, nInst := 0, 0
	for _, se := range db.SeriesOf(study) {
		nSeries++
		ins, err := db.Instances(study, se.UID)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("eligibility %s: %w", study, err)
		}
		nInst += len(ins)
		var nums []int
		for _, in := range ins {
			if n, ok := in.Attrs.Int(tagInstanceNumber); ok {
				nums = append(nums, n)
			}
		}
		if len(ins) == 0 || len(nums) < len(ins) {
			if len(ins) == 0 {
				out = append(out, problem(ProblemIncompleteSeries, text{fmt.Sprintf("序列 %s 没有图像", seriesLabel(se)), fmt.Sprintf("series %s has no instances", seriesLabel(se))}))
			}
			continue // no numbers to judge completeness by
		}
		slices.Sort(nums)
		nums = slices.Compact(nums)
		if gaps := missingNumbers(nums); len(gaps) > 0 {
			out = append(out, problem(ProblemIncompleteSeries, text{
				fmt.Sprintf("序列 %s 缺少图像编号 %s", seriesLabel(se), gaps),
				fmt.Sprintf("series %s lacks instance number(s) %s", seriesLabel(se), gaps)}))
		}
	}
	if nSeries == 0 {
		out = append(out, problem(ProblemIncompleteSeries, text{"该检查没有序列", "the study has no series"}))
	}
	return out, nSeries, nInst, nil
}

// missingNumbers describes the numbers missing from 1..max of sorted nums
// (at most a few, then an ellipsis).
func missingNumbers(nums []int) string {
	var gaps []string
	next := 1
	for _, n := range nums {
		for ; next < n && len(gaps) <= 5; next++ {
			gaps = append(gaps, fmt.Sprint(next))
		}
		next = max(next, n+1)
	}
	if len(gaps) > 5 {
		gaps = append(gaps[:5], "...")
	}
	return strings.Join(gaps, ", ")
}

// seriesLabel names a series for people: its number, else its UID.
func seriesLabel(se *index.Series) string {
	if n, ok := se.Attrs.Int("00200011"); ok {
		return fmt.Sprint(n)
	}
	return se.UID
}
