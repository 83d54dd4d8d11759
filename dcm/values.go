package dcm

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// converter turns the scanner's elements into DICOM JSON model elements.
type converter struct {
	own   map[string][]ownElem
	order binary.ByteOrder
	big   bool
	// sender decodes text whose character set is missing or does not fit
	// (Limits.DefaultCharset); nil: none.
	sender *textDecoder
	log    decodeLog
	// warnings collects Header.Warnings.
	warnings []string
}

// dataSet converts the data set at path ("" for the top level, else an
// item path), in character set cs unless it names its own.
func (c *converter) dataSet(path string, cs *textDecoder) (Dataset, error) {
	owns := c.own[path]
	ds := make(Dataset, len(owns))
	for _, o := range owns {
		if o.tag == tagSpecificCharacterSet && !o.bulk {
			cs = newTextDecoder(charsetTerms(o.value), c.sender, &c.log)
		}
	}
	for _, o := range owns {
		if (path == "" && o.tag>>16 == 0x0002) || isGroupLength(o.tag) {
			continue
		}
		k := tagKey(o.tag)
		if _, dup := ds[k]; dup {
			return nil, invalidf("element %s appears twice in %s", tagString(o.tag), describePath(path))
		}
		el, err := c.element(o, cs)
		if err != nil {
			return nil, err
		}
		ds[k] = el
	}
	return ds, nil
}

func describePath(path string) string {
	if path == "" {
		return "the data set"
	}
	return "item " + path
}

// element converts one element.
func (c *converter) element(o ownElem, cs *textDecoder) (*Element, error) {
	if o.vr != "SQ" {
		return c.ownElement(o, cs), nil
	}
	el := &Element{VR: "SQ"}
	for i := 0; i < o.items; i++ {
		ds, err := c.dataSet(o.path+"/"+strconv.Itoa(i), cs)
		if err != nil {
			return nil, err
		}
		el.Value = append(el.Value, ds)
	}
	return el, nil
}

// ownElement converts an element that is not a sequence.
func (c *converter) ownElement(o ownElem, cs *textDecoder) *Element {
	el := &Element{VR: o.vr}
	switch {
	case o.bulk:
		el.BulkDataURI = o.path
	case o.vr == "SV" || o.vr == "UV":
		for b := o.value; len(b) >= 8; b = b[8:] {
			u := c.order.Uint64(b)
			if o.vr == "UV" {
				el.Value = append(el.Value, bigInt(float64(u), strconv.FormatUint(u, 10), u <= 1<<53))
			} else {
				i := int64(u)
				el.Value = append(el.Value, bigInt(float64(i), strconv.FormatInt(i, 10), i >= -(1<<53) && i <= 1<<53))
			}
		}
	case vrTable[o.vr].binary:
		if len(o.value) > 0 {
			el.InlineBinary = base64.StdEncoding.EncodeToString(c.littleEndian(o.vr, o.value))
		}
	case o.vr == "AT":
		el.Value = make([]any, 0, len(o.value)/4)
		for b := o.value; len(b) >= 4; b = b[4:] {
			el.Value = append(el.Value, tagKey(uint32(c.order.Uint16(b))<<16|uint32(c.order.Uint16(b[2:]))))
		}
	case vrTable[o.vr].word > 0: // US, SS, UL, SL, FL, FD
		el.Value = c.numbers(o.vr, o.value)
	default:
		var bad []string
		el.Value, bad = stringValues(o.vr, string(o.value), cs)
		for _, w := range bad {
			if len(c.warnings) < maxWarnings {
				c.warnings = append(c.warnings, fmt.Sprintf("%s %s %s", tagString(o.tag), o.vr, w))
			}
		}
	}
	return el
}

// numbers decodes the binary numbers of a fixed-size VR.
func (c *converter) numbers(vr string, b []byte) []any {
	w := vrTable[vr].word
	out := make([]any, 0, len(b)/w)
	for ; len(b) >= w; b = b[w:] {
		var v float64
		switch vr {
		case "US":
			v = float64(c.order.Uint16(b))
		case "SS":
			v = float64(int16(c.order.Uint16(b)))
		case "UL":
			v = float64(c.order.Uint32(b))
		case "SL":
			v = float64(int32(c.order.Uint32(b)))
		case "FL":
			out = append(out, jsonFloat(float64(math.Float32frombits(c.order.Uint32(b)))))
			continue
		case "FD":
			out = append(out, jsonFloat(math.Float64frombits(c.order.Uint64(b))))
			continue
		}
		out = append(out, v)
	}
	return out
}

// bigInt is f, or s when f cannot hold the value exactly.
func bigInt(f float64, s string, exact bool) any {
	if exact {
		return f
	}
	return s
}

// littleEndian returns b, byte-swapped per word of vr when the data set is
// big endian.
func (c *converter) littleEndian(vr string, b []byte) []byte {
	w := vrTable[vr].word
	if !c.big || w <= 1 {
		return b
	}
	out := make([]byte, len(b))
	copy(out, b)
	for i := 0; i+w <= len(out); i += w {
		for j := 0; j < w/2; j++ {
			out[i+j], out[i+w-1-j] = out[i+w-1-j], out[i+j]
		}
	}
	return out
}

// jsonFloat is f, or a string for values JSON numbers cannot hold.
func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// stringValues converts the raw (undecoded, backslash-joined) text value of
// a VR into DICOM JSON values; nil when the element is empty. bad says,
// without quoting them, what happened to values that were repaired or
// left out (DS and IS values that are not JSON numbers).
func stringValues(vr, raw string, cs *textDecoder) (vals []any, bad []string) {
	var text string
	switch vr {
	case "SH", "LO", "ST", "LT", "UC", "UT", "PN":
		text = cs.decode(raw)
	default:
		text = defaultText.decode(raw)
	}
	text = strings.TrimRight(text, " \x00")
	if strings.Trim(text, " ") == "" {
		return nil, nil
	}
	switch vr {
	case "ST", "LT", "UT", "UR":
		return []any{text}, nil
	}
	if !strings.Contains(text, `\`) { // one value: no split
		v, note := component(vr, text)
		if note != "" {
			bad = append(bad, "value "+note)
		}
		if v != nil {
			return []any{v}, bad
		}
		return nil, bad
	}
	parts := splitBackslash(text)
	out := make([]any, len(parts))
	empty := true
	for i, p := range parts {
		var note string
		out[i], note = component(vr, p)
		if note != "" {
			bad = append(bad, fmt.Sprintf("value %d %s", i+1, note))
		}
		empty = empty && out[i] == nil
	}
	if empty {
		return nil, bad
	}
	return out, bad
}

// component converts one value of a multi-valued text element; nil when
// it is empty (or, for DS and IS, not a number). note says, for DS and
// IS, what was repaired or left out.
func component(vr, s string) (v any, note string) {
	switch vr {
	case "AE", "CS", "DS", "IS", "LO", "SH", "AS", "DA", "DT", "TM", "UI":
		s = strings.Trim(s, " \x00")
	default:
		s = strings.TrimRight(s, " \x00")
	}
	if s == "" {
		return nil, ""
	}
	switch vr {
	case "PN":
		return personName(s), ""
	case "DS":
		return decimal(s)
	case "IS":
		return integer(s)
	}
	return s, ""
}

// personName splits a PN value into its component groups.
func personName(s string) any {
	g := strings.SplitN(s, "=", 3)
	var pn PersonName
	for i, v := range g {
		v = strings.TrimRight(v, " ")
		if strings.Trim(v, "^ ") == "" {
			v = "" // only component delimiters
		}
		switch i {
		case 0:
			pn.Alphabetic = v
		case 1:
			pn.Ideographic = v
		case 2:
			pn.Phonetic = v
		}
	}
	if pn == (PersonName{}) {
		return nil
	}
	return pn
}

// decimal parses a DS value; nil when it is not a finite number. A
// decimal comma ("1,5", written by European locales) is read as a point,
// with a note.
func decimal(s string) (any, string) {
	note := ""
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s, note = strings.Replace(s, ",", ".", 1), "has a decimal comma: read as a point"
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-.eE", r) {
			return nil, "is not a decimal string: left out of the metadata"
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, "is not a finite decimal number: left out of the metadata"
	}
	return f, note
}

// integer parses an IS value; nil when it is not an integer. A decimal
// string holding an integer ("1.0") is that integer, with a note.
func integer(s string) (any, string) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64(n), ""
	}
	f, _ := decimal(s)
	if x, ok := f.(float64); ok && x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
		return x, "is an integer written as a decimal: read as the integer"
	}
	return nil, "is not an integer: left out of the metadata"
}

// charsetTerms splits the raw SpecificCharacterSet value.
func charsetTerms(raw []byte) []string {
	parts := splitBackslash(string(raw))
	for i, p := range parts {
		parts[i] = strings.Trim(p, " \x00")
	}
	return parts
}
