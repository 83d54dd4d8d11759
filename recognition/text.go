package recognition

import (
	"fmt"
	"strings"
)

// Lang is the language of the texts for people in answers: every status,
// reason and message has a Chinese and an English text.
type Lang string

// Languages. Chinese is the default: the gateway's users are Chinese
// hospitals and their patients.
const (
	LangZH Lang = "zh"
	LangEN Lang = "en"
)

// text is one message in both languages.
type text struct{ zh, en string }

func (t text) in(l Lang) string {
	if l == LangEN {
		return t.en
	}
	return t.zh
}

var statusTexts = map[Status]text{
	StatusRecognised:    {"可互认", "Recognised"},
	StatusExpired:       {"互认已过期", "Recognition expired"},
	StatusNotEligible:   {"不适用互认", "Not eligible for recognition"},
	StatusNotCertified:  {"机构未通过质控认证", "Institution not certified"},
	StatusOutsideRegion: {"不在互认区域内", "Outside the recognition region"},
}

// StatusText names a status for people.
func StatusText(st Status, l Lang) string {
	if t, ok := statusTexts[st]; ok {
		return t.in(l)
	}
	return string(st)
}

var reasonTexts = map[string]text{
	ReasonConditionChanged: {"病情变化或急诊", "The condition changed, or an emergency"},
	ReasonImageQuality:     {"图像质量不满足诊断要求", "Image quality not sufficient"},
	ReasonIncomplete:       {"检查不完整", "The exam is incomplete"},
	ReasonOther:            {"其他", "Other"},
}

var outcomeTexts = map[string]text{
	OutcomeAccept: {"认可（不再重复检查）", "Accepted (no repeat exam)"},
	OutcomeRefuse: {"不认可", "Refused"},
}

// RefusalReason is a refusal reason with its text for people.
type RefusalReason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// RefusalReasons lists the reasons a physician may give for refusing a
// result, in a fixed order (ReasonOther, last, needs a free text).
func RefusalReasons(l Lang) []RefusalReason {
	var out []RefusalReason
	for _, r := range refusalReasons() {
		out = append(out, RefusalReason{Code: r, Text: reasonTexts[r].in(l)})
	}
	return out
}

// problemTexts are the Chinese texts of problem codes, for outcomes
// recorded before problems carried their own.
var problemTexts = map[string]string{
	ProblemMissingAttribute:   "缺少必需的 DICOM 属性",
	ProblemInvalidStudyDate:   "检查日期无效",
	ProblemFutureStudyDate:    "检查日期在未来",
	ProblemIncompleteSeries:   "序列不完整",
	ProblemUnknownInstitution: "机构不在登记名录中",
	ProblemNoItem:             "没有与该检查相符的互认项目",
	ProblemNotCertified:       "机构没有有效的影像质控认证",
}

// problem makes a problem with its English and Chinese texts.
func problem(code string, t text) Problem { return Problem{Code: code, Text: t.en, TextZH: t.zh} }

// in returns the problem's text in l.
func (p Problem) in(l Lang) string {
	switch {
	case l == LangEN:
		return p.Text
	case p.TextZH != "":
		return p.TextZH
	case problemTexts[p.Code] != "":
		return problemTexts[p.Code] + "（" + p.Text + "）"
	}
	return p.Text
}

// sentenceZH ends a Chinese text with a full stop.
func sentenceZH(s string) string {
	if s == "" || strings.HasSuffix(s, "。") {
		return s
	}
	return s + "。"
}

// In returns the tag with its reason and status text in l.
func (t Tag) In(l Lang) Tag {
	t.StatusText = StatusText(t.Status, l)
	if l != LangEN {
		t.Reason = t.reasonZH
	}
	return t
}

// In returns a copy of the outcome with its texts in l.
func (e Eligibility) In(l Lang) Eligibility {
	ps := make([]Problem, len(e.Problems))
	for i, p := range e.Problems {
		ps[i] = Problem{Code: p.Code, Text: p.in(l)}
	}
	e.Problems = ps
	e.Explanation = explain(&e, l)
	return e
}

// In returns a copy of the order check's answer with its texts in l.
func (r OrderResult) In(l Lang) OrderResult {
	hits := make([]OrderHit, len(r.Results))
	for i, h := range r.Results {
		h.Tag = h.Tag.In(l)
		hits[i] = h
	}
	r.Results = hits
	if r.Notice != "" {
		r.Notice = noticeConsent.in(l)
	}
	return r
}

// In returns a copy of the decision with its outcome and reason texts in l.
func (d Decision) In(l Lang) Decision {
	d.OutcomeText = outcomeTexts[d.Outcome].in(l)
	if d.Reason != "" {
		d.ReasonText = reasonTexts[d.Reason].in(l)
	}
	return d
}

// notRecognisable is the refusal of a decision on a result that does not
// count, in both languages (error messages are not negotiated).
func notRecognisable(t Tag) error {
	return fmt.Errorf("%w: study %s is %s for %s: %s / %s", ErrNotRecognisable, t.Study,
		t.Status, t.Asking, sentenceZH(t.reasonZH), t.Reason)
}
