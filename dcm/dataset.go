package dcm

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The accessors accept values as ReadHeader makes them (string, float64,
// PersonName, Dataset) and also as plain encoding/json decoding into []any
// would (map[string]any for PN and items).

// String returns the first value of the element tag as a string: PN values
// give their Alphabetic group (else Ideographic, else Phonetic), numbers
// are formatted. It returns "" when the element is absent or empty.
func (d Dataset) String(tag string) string {
	e := d[tag]
	if e == nil || len(e.Value) == 0 {
		return ""
	}
	return valueString(e.Value[0])
}

// Strings returns every value of the element tag as a string (see
// String); empty values are "".
func (d Dataset) Strings(tag string) []string {
	e := d[tag]
	if e == nil || len(e.Value) == 0 {
		return nil
	}
	out := make([]string, len(e.Value))
	for i, v := range e.Value {
		out[i] = valueString(v)
	}
	return out
}

// Int returns the first value of the element tag as an int, when it is an
// integral number or a string holding one (as IS values read from
// elsewhere may be).
func (d Dataset) Int(tag string) (int, bool) {
	e := d[tag]
	if e == nil || len(e.Value) == 0 {
		return 0, false
	}
	switch v := e.Value[0].(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
			return int(v), true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return n, err == nil
	case json.Number:
		n, err := strconv.Atoi(v.String())
		return n, err == nil
	}
	return 0, false
}

// PN returns the first value of the element tag as a person name. A
// string value gives a name with only an Alphabetic group.
func (d Dataset) PN(tag string) PersonName {
	e := d[tag]
	if e == nil || len(e.Value) == 0 {
		return PersonName{}
	}
	switch v := e.Value[0].(type) {
	case PersonName:
		return v
	case *PersonName:
		if v != nil {
			return *v
		}
	case map[string]any:
		s := func(k string) string { x, _ := v[k].(string); return x }
		return PersonName{Alphabetic: s("Alphabetic"), Ideographic: s("Ideographic"), Phonetic: s("Phonetic")}
	case string:
		return PersonName{Alphabetic: v}
	}
	return PersonName{}
}

// String returns the first non-empty group of the name: Alphabetic, else
// Ideographic, else Phonetic.
func (p PersonName) String() string {
	switch {
	case p.Alphabetic != "":
		return p.Alphabetic
	case p.Ideographic != "":
		return p.Ideographic
	}
	return p.Phonetic
}

func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	case PersonName:
		return v.String()
	case *PersonName:
		if v != nil {
			return v.String()
		}
	case map[string]any:
		for _, k := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
			if s, _ := v[k].(string); s != "" {
				return s
			}
		}
	}
	return ""
}

// WalkBulk calls fn for every element of d, at any depth, that has a
// BulkDataURI, in ascending tag order, so that the caller can rewrite it.
func (d Dataset) WalkBulk(fn func(e *Element)) {
	// Only the few elements that can hold bulk data are sorted: sorting
	// every key cost 5% of ingest.
	var keys []string
	for k, e := range d {
		if e != nil && (e.BulkDataURI != "" || e.VR == "SQ") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		e := d[k]
		if e.BulkDataURI != "" {
			fn(e)
		}
		for _, v := range e.Value {
			if item, ok := v.(Dataset); ok {
				item.WalkBulk(fn)
			}
		}
	}
}

// UnmarshalJSON decodes a DICOM JSON element so that its values have the
// Go types ReadHeader gives them: Dataset items for SQ, PersonName for PN,
// float64 numbers, strings, and nil for null.
func (e *Element) UnmarshalJSON(b []byte) error {
	var raw struct {
		VR           string            `json:"vr"`
		Value        []json.RawMessage `json:"Value"`
		InlineBinary string            `json:"InlineBinary"`
		BulkDataURI  string            `json:"BulkDataURI"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = Element{VR: raw.VR, InlineBinary: raw.InlineBinary, BulkDataURI: raw.BulkDataURI}
	if raw.Value == nil {
		return nil
	}
	e.Value = make([]any, len(raw.Value))
	for i, m := range raw.Value {
		if string(m) == "null" {
			continue
		}
		var err error
		switch raw.VR {
		case "SQ":
			var item Dataset
			err = json.Unmarshal(m, &item)
			e.Value[i] = item
		case "PN":
			var pn PersonName
			if err = json.Unmarshal(m, &pn); err != nil {
				var s string
				if json.Unmarshal(m, &s) == nil {
					pn, err = PersonName{Alphabetic: s}, nil
				}
			}
			e.Value[i] = pn
		default:
			var v any
			err = json.Unmarshal(m, &v)
			e.Value[i] = v
		}
		if err != nil {
			return fmt.Errorf("element value %d (VR %s): %w", i, raw.VR, err)
		}
	}
	return nil
}
