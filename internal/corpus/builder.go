package corpus

import (
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// elementBuilder collects elements built from dictionary tags and keeps the
// first error, so a long run of additions needs one check at the end.
type elementBuilder struct {
	elems []*dicom.Element
	err   error
}

// add appends an element with the given value.
func (b *elementBuilder) add(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("element %v: %w", t, err)
		}
		return nil
	}
	b.elems = append(b.elems, e)
	return e
}

// strs appends a string-valued element.
func (b *elementBuilder) strs(t tag.Tag, v ...string) { b.add(t, v) }

// ints appends an integer-valued element.
func (b *elementBuilder) ints(t tag.Tag, v ...int) { b.add(t, v) }

// bytes appends a byte-valued element.
func (b *elementBuilder) bytes(t tag.Tag, v []byte) { b.add(t, v) }

// pixels appends native PixelData holding raw, written as is with vr.
func (b *elementBuilder) pixels(raw []byte, vr string) {
	e := b.add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw})
	if e != nil {
		e.RawValueRepresentation = vr
	}
}
