package recognition

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/index"
)

// OrderRequest is an order-time check: a physician of Institution is about
// to order Item for a patient named by (Issuer, PatientID), a person key or
// a national identifier (hashed at once, never stored).
type OrderRequest struct {
	Institution string `json:"institution"`
	Item        string `json:"item"`
	Issuer      string `json:"issuer,omitempty"`
	PatientID   string `json:"patient_id,omitempty"`
	PersonKey   string `json:"person_key,omitempty"`
	NationalID  string `json:"national_id,omitempty"`
}

// OrderResult lists the patient's results for the item that the ordering
// institution may see, recognisable ones first, each with its tag (and the
// reason when it does not qualify).
type OrderResult struct {
	Item        *Item  `json:"item"`
	Institution string `json:"institution"`
	// Recognisable is true when a listed result makes the new exam
	// unnecessary.
	Recognisable bool       `json:"recognisable"`
	Results      []OrderHit `json:"results"`
	// NeedsConsent is true when another institution holds a result of the
	// patient for the item that no consent lets the ordering institution
	// see: such results are not listed, and Notice asks for the patient's
	// authorisation.
	NeedsConsent bool   `json:"needs_consent,omitempty"`
	Notice       string `json:"notice,omitempty"`
}

// noticeConsent is the notice of an order check that found results it may
// not show.
var noticeConsent = text{
	"该项目可能有其他机构持有的可互认结果：请患者授权（同意）贵机构查看后再查询",
	"a recognisable result for this item may be held by another institution: " +
		"ask the patient to authorise (consent to) your institution to see it, then check again"}

// OrderHit is one earlier result of the patient for the item.
type OrderHit struct {
	Tag
	HoldingName      string   `json:"holding_institution_name,omitempty"`
	StudyDescription string   `json:"study_description,omitempty"`
	Modalities       []string `json:"modalities,omitempty"`
}

// orderLimit bounds the results an order check lists.
const orderLimit = 50

// CheckOrder answers an order-time check.
//
// What it says without consent: results held by the ordering institution
// itself, and those a consent in force for it covers, are listed in full
// (tag, study, date, holding institution). Of every other result it says
// only NeedsConsent, one flag for all of them: no study UID, item status,
// holding institution, date or count, so that an order check cannot tell
// which exams a patient had, where or when. A patient nobody linked
// answers as one without results (no "unknown person" oracle). Callers
// limit and audit order checks per clinician (httpapi/recognitionapi).
func (s *Service) CheckOrder(ctx context.Context, req OrderRequest) (*OrderResult, error) {
	st := s.state()
	if req.Institution == "" {
		return nil, invalidf("institution (the ordering institution) is required")
	}
	if st.institutions[req.Institution] == nil {
		return nil, notFoundf("institution %s", req.Institution)
	}
	item := st.items[req.Item]
	if item == nil {
		return nil, invalidf("unknown item code %q (see GET /api/v1/recognition/catalogue)", req.Item)
	}
	refs, err := s.orderRefs(ctx, req)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, r := range refs {
		ids[r.PatientID] = true
	}
	now := s.opt.Now()
	out := &OrderResult{Item: item, Institution: req.Institution, Results: []OrderHit{}}
	// The patient's studies come from the PatientID key, in QIDO order:
	// an order check costs what the patient's studies cost.
	var found []index.Cursor
	for id := range ids {
		if err := s.db.ScanKey(index.KindPatientID, id, true, func(c index.Cursor) bool {
			found = append(found, c)
			return true
		}); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(found, func(a, b index.Cursor) int { return cmp.Compare(a.Order, b.Order) })
	found = slices.CompactFunc(found, func(a, b index.Cursor) bool { return a.UID == b.UID })
	for _, c := range found {
		row, err := s.db.Study(c.UID)
		if err != nil {
			continue // removed since
		}
		if !ids[strings.TrimSpace(row.Attrs.String(tagPatientID))] {
			continue
		}
		f := factsOf(row, s.db.SeriesOf(row.UID))
		elig := s.eligibility(ctx, row.UID)
		if !slices.Contains(refs, PatientRef{Issuer: st.issuerOf(f, elig), PatientID: f.PatientID}) {
			continue
		}
		t := st.evaluate(f, elig, req.Institution, now)
		if t.Item != item.Code {
			continue
		}
		if c := s.opt.Consents; c != nil && t.Holding != req.Institution && !c.Covers(ctx, row, req.Institution, s) {
			out.NeedsConsent, out.Notice = true, noticeConsent.en
			continue
		}
		hit := OrderHit{Tag: t, StudyDescription: row.Attrs.String(tagStudyDescription), Modalities: row.Modalities}
		if h := st.institutions[t.Holding]; h != nil {
			hit.HoldingName = h.Name
		}
		out.Results = append(out.Results, hit)
		out.Recognisable = out.Recognisable || t.Recognised()
	}
	slices.SortStableFunc(out.Results, func(a, b OrderHit) int {
		if a.Recognised() != b.Recognised() {
			if a.Recognised() {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.StudyDate, a.StudyDate)
	})
	if len(out.Results) > orderLimit {
		out.Results = out.Results[:orderLimit]
	}
	return out, nil
}

// orderRefs resolves the patient of an order check to every patient
// reference linked to the same person.
func (s *Service) orderRefs(ctx context.Context, req OrderRequest) ([]PatientRef, error) {
	hasRef := req.Issuer != "" || req.PatientID != ""
	hasPerson := req.PersonKey != "" || req.NationalID != ""
	switch {
	case hasRef && hasPerson:
		return nil, invalidf("name the patient by issuer and patient_id, or by person_key or national_id, not both")
	case hasRef:
		ref := PatientRef{Issuer: strings.TrimSpace(req.Issuer), PatientID: strings.TrimSpace(req.PatientID)}
		if ref.Issuer == "" || ref.PatientID == "" {
			return nil, invalidf("issuer and patient_id go together")
		}
		key, err := s.personOf(ctx, ref)
		if err != nil || key == "" {
			return []PatientRef{ref}, err
		}
		return s.refsOf(ctx, key)
	case hasPerson:
		key, err := s.personKey(req.NationalID, req.PersonKey)
		if err != nil {
			return nil, err
		}
		return s.refsOf(ctx, key)
	}
	return nil, invalidf("the patient is required: issuer and patient_id, person_key or national_id")
}

// issuerOf returns the issuer of a study's PatientID: the stored one, the
// study's own, or the holding institution's default.
func (s *state) issuerOf(f *Facts, elig *Eligibility) string {
	if elig != nil && elig.Issuer != "" {
		return elig.Issuer
	}
	if f.Issuer != "" {
		return f.Issuer
	}
	if h := s.holdingOf(f, elig); h != nil && len(h.Issuers) > 0 {
		return h.Issuers[0]
	}
	return ""
}
