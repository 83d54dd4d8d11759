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

// OrderResult lists the patient's results for the item, recognisable ones
// first, each with its tag (and the reason when it does not qualify).
type OrderResult struct {
	Item        *Item  `json:"item"`
	Institution string `json:"institution"`
	// Recognisable is true when a result makes the new exam unnecessary.
	Recognisable bool       `json:"recognisable"`
	Results      []OrderHit `json:"results"`
}

// OrderHit is one earlier result of the patient for the item.
type OrderHit struct {
	Tag
	HoldingName      string   `json:"holding_institution_name,omitempty"`
	StudyDescription string   `json:"study_description,omitempty"`
	Modalities       []string `json:"modalities,omitempty"`
	// NeedsConsent is true when the result is held by another institution
	// and no consent of the patient covers the ordering one: the check says
	// that it exists, but not which study it is, until the patient consents.
	NeedsConsent bool `json:"needs_consent,omitempty"`
}

// ConsentChecker says whether a patient's consent lets an institution see
// a study (consent.Service).
type ConsentChecker interface {
	Covers(ctx context.Context, st *index.Study, institution string) bool
}

// SetConsent installs the consent checker; the order check then hides
// the details of results a consent does not cover. Call before serving.
func (s *Service) SetConsent(c ConsentChecker) { s.consent = c }

// orderLimit bounds the results an order check lists.
const orderLimit = 50

// CheckOrder answers an order-time check.
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
	for _, row := range s.db.Studies() {
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
		hit := OrderHit{Tag: t, StudyDescription: row.Attrs.String(tagStudyDescription), Modalities: row.Modalities}
		if h := st.institutions[t.Holding]; h != nil {
			hit.HoldingName = h.Name
		}
		if s.consent != nil && t.Holding != req.Institution && !s.consent.Covers(ctx, row, req.Institution) {
			// Existence, item and validity only: no study UID or description.
			hit = OrderHit{NeedsConsent: true, Modalities: row.Modalities, HoldingName: hit.HoldingName, Tag: Tag{
				Status: t.Status, Item: t.Item, ItemName: t.ItemName, ItemNameEN: t.ItemNameEN,
				ValidUntil: t.ValidUntil, Holding: t.Holding, Asking: t.Asking,
				Reason: "a patient consent is needed before this result can be viewed",
			}}
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
