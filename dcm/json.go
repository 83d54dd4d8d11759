package dcm

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
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
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = enc(m[k], b); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes one element (see Dataset.MarshalJSON).
func (e *Element) MarshalJSON() ([]byte, error) { return e.appendJSON(nil) }

func (e *Element) appendJSON(b []byte) ([]byte, error) {
	if e == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"vr":`...)
	b = appendString(b, e.VR)
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
		b = appendString(b, e.InlineBinary)
	}
	if e.BulkDataURI != "" {
		b = append(b, `,"BulkDataURI":`...)
		b = appendString(b, e.BulkDataURI)
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case float64:
		return appendFloat(b, x)
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
		b = appendString(b, f.k)
		b = append(b, ':')
		b = appendString(b, f.v)
	}
	return append(b, '}')
}

var errNonFinite = errors.New("json: unsupported value: NaN or infinite number")

// appendFloat formats like encoding/json (ES6 number to string).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errNonFinite
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does (HTML-safe escaping,
// invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
