package recognition

import (
	"context"
	"strings"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// The private block added to QIDO study answers and to every instance of
// metadata answers. Viewers read these exact tags; see the README.
const (
	PrivateCreator    = "IMGCLOUD RECOGNITION"
	TagPrivateCreator = "00110010" // LO, PrivateCreator
	TagStatus         = "00111001" // CS, one of the Status values
	TagItemCode       = "00111002" // LO, catalogue item code
	TagItemName       = "00111003" // LO, item name in Chinese
	TagValidUntil     = "00111004" // DA, last day the result counts
	TagScope          = "00111005" // LO, region ids (multi-valued)
	TagHolding        = "00111006" // LO, holding institution id
	TagReason         = "00111007" // LT, why the status is not RECOGNISED
)

// AnnotateStudy returns the private recognition block of a study for the
// institution the request asks for (archive.Annotator).
func (s *Service) AnnotateStudy(ctx context.Context, st *index.Study) dcm.Dataset {
	f := factsOf(st, s.db.SeriesOf(st.UID))
	t := s.state().evaluate(f, s.eligibility(ctx, st.UID), AskingFrom(ctx), s.opt.Now())
	return t.Block()
}

// Block encodes the tag as the private DICOM block.
func (t *Tag) Block() dcm.Dataset {
	ds := dcm.Dataset{
		TagPrivateCreator: {VR: "LO", Value: []any{PrivateCreator}},
		TagStatus:         {VR: "CS", Value: []any{string(t.Status)}},
	}
	str := func(tag, vr, v string) {
		if v != "" {
			ds[tag] = &dcm.Element{VR: vr, Value: []any{v}}
		}
	}
	str(TagItemCode, "LO", t.Item)
	str(TagItemName, "LO", t.ItemName)
	str(TagValidUntil, "DA", strings.ReplaceAll(t.ValidUntil, "-", ""))
	if len(t.Scope) > 0 {
		vals := make([]any, len(t.Scope))
		for i, r := range t.Scope {
			vals[i] = r
		}
		ds[TagScope] = &dcm.Element{VR: "LO", Value: vals}
	}
	str(TagHolding, "LO", t.Holding)
	str(TagReason, "LT", t.Reason)
	return ds
}
