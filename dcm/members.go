package dcm

import (
	"slices"
	"strings"

	"github.com/imgcloud/gateway/internal/jsonappend"
)

// Members is a data set encoded once as the members of a DICOM JSON
// object, in tag order, to be merged with other members into many answers
// without encoding again: a QIDO page repeats a study's attributes and its
// recognition block in every answer that lists it. It holds no element,
// only bytes, so a cache of them costs the collector little. A Members is
// shared once made: never modified.
type Members struct {
	tags string  // 8 characters per member, in order
	js   []byte  // the members, separated by commas
	ends []int32 // member i ends at ends[i] in js
}

// EncodeMembers encodes d. It returns nil, nil when a key of d is not 8
// characters long (not a tag as DICOM JSON writes it).
func EncodeMembers(d Dataset) (*Members, error) {
	var scratch [32]string
	tags := scratch[:0]
	for t := range d {
		if len(t) != 8 {
			return nil, nil
		}
		tags = append(tags, t)
	}
	slices.Sort(tags)
	m := &Members{tags: strings.Join(tags, ""), ends: make([]int32, len(tags))}
	var b []byte
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonappend.String(b, t), ':')
		var err error
		if b, err = d[t].appendJSON(b); err != nil {
			return nil, err
		}
		m.ends[i] = int32(len(b))
	}
	m.js = b
	return m, nil
}

// Len is the number of members.
func (m *Members) Len() int { return len(m.ends) }

// Size estimates the memory m holds, in bytes.
func (m *Members) Size() int { return len(m.tags) + len(m.js) + 4*len(m.ends) + 80 }

func (m *Members) tag(i int) string { return m.tags[8*i : 8*i+8] }

// member returns the bytes of members i to j-1 (with the commas between).
func (m *Members) span(i, j int) []byte {
	begin := int32(0)
	if i > 0 {
		begin = m.ends[i-1] + 1
	}
	return m.js[begin:m.ends[j-1]]
}

// AppendObject appends to b one JSON object of the members of m and of
// over (nil: none) in tag order; a member of over replaces one of m with
// the same tag, as setting an element in a data set does.
func (m *Members) AppendObject(b []byte, over *Members) []byte {
	b = append(b, '{')
	first := true
	add := func(p []byte) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, p...)
	}
	i, n := 0, m.Len()
	if over != nil {
		for j := 0; j < over.Len(); j++ {
			t := over.tag(j)
			i0 := i
			for i < n && m.tag(i) < t {
				i++
			}
			if i > i0 {
				add(m.span(i0, i))
			}
			if i < n && m.tag(i) == t {
				i++
			}
			add(over.span(j, j+1))
		}
	}
	if i < n {
		add(m.span(i, n))
	}
	return append(b, '}')
}
