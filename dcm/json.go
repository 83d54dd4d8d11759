package dcm

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/imgcloud/gateway/internal/jsonappend"
)

// MarshalJSON encodes the data set as DICOM JSON. It writes the same bytes
// encoding/json would, without reflection: QIDO answers and the metadata
// computed at ingest encode many data sets per request.
func (d Dataset) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil) }

// AppendJSON appends the data set's DICOM JSON to b.
func (d Dataset) AppendJSON(b []byte) ([]byte, error) {
	if d == nil {
		return append(b, "null"...), nil
	}
	return appendObject(b, d, (*Element).appendJSON)
}

// appendObject appends m as a JSON object with sorted keys, encoding each
// value with enc.
func appendObject[V any](b []byte, m map[string]V, enc func(V, []byte) ([]byte, error)) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonappend.String(b, k)
		b = append(b, ':')
		if b, err = enc(m[k], b); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes one element (see Dataset.MarshalJSON).
func (e *Element) MarshalJSON() ([]byte, error) { return e.appendJSON(nil) }

// AppendJSON appends the element's DICOM JSON to b.
func (e *Element) AppendJSON(b []byte) ([]byte, error) { return e.appendJSON(b) }

func (e *Element) appendJSON(b []byte) ([]byte, error) {
	if e == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"vr":`...)
	b = jsonappend.String(b, e.VR)
	if len(e.Value) > 0 {
		b = append(b, `,"Value":[`...)
		var err error
		for i, v := range e.Value {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, v); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if e.InlineBinary != "" {
		b = append(b, `,"InlineBinary":`...)
		b = jsonappend.String(b, e.InlineBinary)
	}
	if e.BulkDataURI != "" {
		b = append(b, `,"BulkDataURI":`...)
		b = jsonappend.String(b, e.BulkDataURI)
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonappend.String(b, x), nil
	case float64:
		return jsonappend.Float(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case PersonName:
		return x.appendJSON(b), nil
	case Dataset:
		return x.AppendJSON(b)
	case map[string]any:
		return appendObject(b, x, func(v any, b []byte) ([]byte, error) { return appendValue(b, v) })
	}
	// Anything else (not produced by this package): the general encoder.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

func (p PersonName) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	for _, f := range [3]struct{ k, v string }{{"Alphabetic", p.Alphabetic}, {"Ideographic", p.Ideographic}, {"Phonetic", p.Phonetic}} {
		if f.v == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonappend.String(b, f.k)
		b = append(b, ':')
		b = jsonappend.String(b, f.v)
	}
	return append(b, '}')
}
