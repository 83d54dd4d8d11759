package index

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/imgcloud/gateway/dcm"
)

// Study rows are read for every QIDO candidate, so they are stored in a
// compact binary form (format 6) rather than JSON: decoding JSON through
// reflection cost most of a cold candidate's time at 1 M instances
// (BENCHMARKS.md). A row decodes to exactly what encoding/json gave for
// the JSON row (dcm.Element.UnmarshalJSON's types per VR), so
// matchers and answers see the same values; rows of format 5 and older
// (they start with '{') still decode, and the upgrade rewrites them.
//
// Layout: studyBin, then uvarint-prefixed strings and uvarints:
//
//	uid holding series instances version received(len, MarshalBinary)
//	modalities(count+1, 0 = null) strings
//	attrs(count+1, 0 = null) of: tag, then elemNull or elemBin vr
//	  inline bulk values(count) of: a value kind byte and its bytes
//	  (SQ items: an attrs list in turn)
//
// Strings of one row share one allocation (the row's bytes as a string).

const studyBin = 0x01

// Value kinds.
const (
	valNil = iota
	valString
	valFloat
	valTrue
	valFalse
	valPN      // a PersonName: its three groups
	valDataset // an SQ item: a dataset
	valJSON    // anything else: its JSON, decoded as dcm.Element's UnmarshalJSON does for the VR
)

const (
	elemNull = 0
	elemBin  = 1
)

func (st *Study) appendRow(b []byte) ([]byte, error) {
	b = append(b, studyBin)
	b = appendStr(b, st.UID)
	b = appendStr(b, st.Holding)
	b = binary.AppendUvarint(b, uint64(st.Series))
	b = binary.AppendUvarint(b, uint64(st.Instances))
	b = binary.AppendUvarint(b, st.Version)
	tb, err := st.Received.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode received: %w", err)
	}
	b = appendStr(b, string(tb))
	if st.Modalities == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(st.Modalities))+1)
		for _, m := range st.Modalities {
			b = appendStr(b, m)
		}
	}
	return appendDataset(b, st.Attrs)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendDataset(b []byte, d dcm.Dataset) ([]byte, error) {
	if d == nil {
		return append(b, 0), nil
	}
	b = binary.AppendUvarint(b, uint64(len(d))+1)
	var err error
	for tag, e := range d {
		b = appendStr(b, tag)
		if e == nil {
			b = append(b, elemNull)
			continue
		}
		b = append(b, elemBin)
		b = appendStr(b, e.VR)
		b = appendStr(b, e.InlineBinary)
		b = appendStr(b, e.BulkDataURI)
		b = binary.AppendUvarint(b, uint64(len(e.Value)))
		for _, v := range e.Value {
			if b, err = appendBinValue(b, e.VR, v); err != nil {
				return nil, fmt.Errorf("encode %s: %w", tag, err)
			}
		}
	}
	return b, nil
}

// appendBinValue encodes v of an element of VR vr as what the JSON row
// decoded to (dcm.Element.UnmarshalJSON): PersonName in PN, Dataset in
// SQ, plain values elsewhere; other pairs take their JSON.
func appendBinValue(b []byte, vr string, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, valNil), nil
	case dcm.PersonName:
		if vr == "PN" {
			return appendStr(appendStr(appendStr(append(b, valPN), x.Alphabetic), x.Ideographic), x.Phonetic), nil
		}
	case dcm.Dataset:
		switch {
		case x == nil:
			return append(b, valNil), nil // JSON's null
		case vr == "SQ":
			return appendDataset(append(b, valDataset), x)
		}
	case string:
		switch vr {
		case "PN":
			return appendStr(appendStr(appendStr(append(b, valPN), x), ""), ""), nil
		case "SQ":
		default:
			return appendStr(append(b, valString), x), nil
		}
	case float64:
		if vr != "PN" && vr != "SQ" && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return binary.BigEndian.AppendUint64(append(b, valFloat), math.Float64bits(x)), nil
		}
	case bool:
		if vr != "PN" && vr != "SQ" {
			if x {
				return append(b, valTrue), nil
			}
			return append(b, valFalse), nil
		}
	}
	// The rest (integers, maps, a value of another VR's type): its JSON,
	// checked to decode now rather than at every read.
	raw, err := (&dcm.Element{VR: vr, Value: []any{v}}).MarshalJSON()
	if err != nil {
		return nil, err
	}
	if _, err := jsonValue(string(raw)); err != nil {
		return nil, err
	}
	return appendStr(append(b, valJSON), string(raw)), nil
}

// jsonValue decodes the one value of an element's JSON.
func jsonValue(raw string) (any, error) {
	var e dcm.Element
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	if len(e.Value) != 1 {
		return nil, errors.New("decode value: not one value")
	}
	return e.Value[0], nil
}

var errShortRow = errors.New("row cut short")

// rowReader reads a binary row; s is the row's bytes as one string, from
// which every string is a slice.
type rowReader struct {
	s   string
	off int
	err error
}

func (r *rowReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.off >= len(r.s) {
			r.err = errShortRow
			return 0
		}
		c := r.s[r.off]
		r.off++
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.err = errors.New("bad varint")
	return 0
}

func (r *rowReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.s) {
		r.err = errShortRow
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *rowReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.err = errShortRow
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// count reads a count and checks it against the bytes left (every item
// takes at least one), so a corrupt row cannot ask for a huge allocation.
func (r *rowReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off)+1 {
		r.err = errShortRow
		return 0
	}
	return int(n)
}

// decodeStudy decodes a study row of either encoding.
func decodeStudy(v []byte, st *Study) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, st)
	}
	if len(v) == 0 || v[0] != studyBin {
		return errors.New("unknown study row encoding")
	}
	r := &rowReader{s: string(v), off: 1}
	st.UID = r.str()
	st.Holding = r.str()
	st.Series = int(r.uvarint())
	st.Instances = int(r.uvarint())
	st.Version = r.uvarint()
	if tb := r.str(); r.err == nil {
		if err := st.Received.UnmarshalBinary([]byte(tb)); err != nil {
			return fmt.Errorf("decode received: %w", err)
		}
	}
	if n := r.count(); n > 0 {
		st.Modalities = make([]string, n-1)
		for i := range st.Modalities {
			st.Modalities[i] = r.str()
		}
	}
	st.Attrs = r.dataset()
	if r.err == nil && r.off != len(r.s) {
		r.err = errors.New("trailing bytes")
	}
	return r.err
}

func (r *rowReader) dataset() dcm.Dataset {
	n := r.count()
	if n == 0 || r.err != nil {
		return nil
	}
	n--
	d := make(dcm.Dataset, n)
	elems := make([]dcm.Element, n) // one allocation for the row's elements
	for i := 0; i < n && r.err == nil; i++ {
		tag := r.str()
		if r.byte() == elemNull {
			d[tag] = nil
			continue
		}
		e := &elems[i]
		e.VR = r.str()
		e.InlineBinary = r.str()
		e.BulkDataURI = r.str()
		if nv := r.count(); nv > 0 {
			e.Value = make([]any, nv)
			for j := range e.Value {
				e.Value[j] = r.value()
			}
		}
		d[tag] = e
	}
	return d
}

func (r *rowReader) value() any {
	switch r.byte() {
	case valNil:
		return nil
	case valString:
		return r.str()
	case valFloat:
		if r.err != nil || len(r.s)-r.off < 8 {
			r.err = errShortRow
			return nil
		}
		var u uint64
		for _, c := range []byte(r.s[r.off : r.off+8]) {
			u = u<<8 | uint64(c)
		}
		r.off += 8
		return math.Float64frombits(u)
	case valTrue:
		return true
	case valFalse:
		return false
	case valPN:
		return dcm.PersonName{Alphabetic: r.str(), Ideographic: r.str(), Phonetic: r.str()}
	case valDataset:
		if d := r.dataset(); d != nil {
			return d
		}
		return nil
	case valJSON:
		v, err := jsonValue(r.str())
		if err != nil && r.err == nil {
			r.err = err
		}
		return v
	}
	if r.err == nil {
		r.err = errors.New("unknown value kind")
	}
	return nil
}
