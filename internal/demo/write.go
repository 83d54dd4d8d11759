package demo

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// elem is one attribute to write: tag number, VR and value bytes (unpadded;
// items holds the items of a sequence instead).
type elem struct {
	tag   uint32
	vr    string
	value []byte
	items [][]elem
}

// builder collects the attributes of one data set by dictionary keyword,
// keeping the first error so a long run of additions needs one check.
type builder struct {
	elems []elem
	err   error
}

// tagOf resolves a keyword with the project's dictionary.
func (b *builder) tagOf(kw string) (uint32, string, bool) {
	key, ok := dcm.TagForKeyword(kw)
	if !ok {
		if b.err == nil {
			b.err = fmt.Errorf("keyword %s: not in the data dictionary", kw)
		}
		return 0, "", false
	}
	var t uint32
	fmt.Sscanf(key, "%08X", &t)
	return t, dcm.VRForTag(key), true
}

// str sets a text attribute (several values are joined with a backslash).
func (b *builder) str(kw string, v ...string) {
	if t, vr, ok := b.tagOf(kw); ok {
		b.elems = append(b.elems, elem{tag: t, vr: vr, value: []byte(strings.Join(v, `\`))})
	}
}

// us sets an unsigned short attribute.
func (b *builder) us(kw string, v ...uint16) {
	if t, vr, ok := b.tagOf(kw); ok {
		val := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(val[2*i:], x)
		}
		b.elems = append(b.elems, elem{tag: t, vr: vr, value: val})
	}
}

// raw sets an attribute with the given VR and value bytes.
func (b *builder) raw(kw, vr string, v []byte) {
	if t, _, ok := b.tagOf(kw); ok {
		b.elems = append(b.elems, elem{tag: t, vr: vr, value: v})
	}
}

// seq sets a sequence of items.
func (b *builder) seq(kw string, items ...*builder) {
	t, _, ok := b.tagOf(kw)
	if !ok {
		return
	}
	e := elem{tag: t, vr: "SQ"}
	for _, it := range items {
		if it.err != nil && b.err == nil {
			b.err = it.err
		}
		e.items = append(e.items, it.elems)
	}
	b.elems = append(b.elems, e)
}

// longLength are the VRs with a 4-byte length in explicit VR (PS3.5 7.1.2).
func longLength(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// appendElems appends elems, sorted by tag, in explicit VR little endian.
func appendElems(out []byte, elems []elem) []byte {
	elems = slices.Clone(elems)
	slices.SortStableFunc(elems, func(a, b elem) int { return int(int64(a.tag) - int64(b.tag)) })
	for _, e := range elems {
		out = binary.LittleEndian.AppendUint16(out, uint16(e.tag>>16))
		out = binary.LittleEndian.AppendUint16(out, uint16(e.tag))
		out = append(out, e.vr...)
		if e.vr == "SQ" {
			var body []byte
			for _, it := range e.items {
				item := appendElems(nil, it)
				body = binary.LittleEndian.AppendUint32(body, 0xE000FFFE)
				body = binary.LittleEndian.AppendUint32(body, uint32(len(item)))
				body = append(body, item...)
			}
			out = append(out, 0, 0)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
			out = append(out, body...)
			continue
		}
		v := e.value
		if len(v)%2 == 1 { // even length: UIDs pad with NUL, text with space
			pad := byte(' ')
			if e.vr == "UI" || e.vr == "OB" {
				pad = 0
			}
			v = append(slices.Clip(v), pad)
		}
		if longLength(e.vr) {
			out = append(out, 0, 0)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
		} else {
			out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
		}
		out = append(out, v...)
	}
	return out
}

// Transfer syntax and implementation identity written in the file meta.
const (
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
	implementationVersion  = "IMGCLOUD_DEMO"
	// implementationClassUID identifies this generator (a fixed 2.25 UID).
	implementationClassUID = "2.25.192812463329155706133547346575120497101"
)

// part10 encodes a data set as a Part 10 file in explicit VR little endian.
func part10(sopClass, sop string, ds *builder) ([]byte, error) {
	if ds.err != nil {
		return nil, ds.err
	}
	var meta builder
	meta.raw("FileMetaInformationVersion", "OB", []byte{0, 1})
	meta.str("MediaStorageSOPClassUID", sopClass)
	meta.str("MediaStorageSOPInstanceUID", sop)
	meta.str("TransferSyntaxUID", explicitVRLittleEndian)
	meta.str("ImplementationClassUID", implementationClassUID)
	meta.str("ImplementationVersionName", implementationVersion)
	if meta.err != nil {
		return nil, meta.err
	}
	m := appendElems(nil, meta.elems)
	out := make([]byte, 128, 128+4+12+len(m)+1<<16)
	out = append(out, "DICM"...)
	out = append(out, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0) // (0002,0000) group length
	out = binary.LittleEndian.AppendUint32(out, uint32(len(m)))
	out = append(out, m...)
	return appendElems(out, ds.elems), nil
}
