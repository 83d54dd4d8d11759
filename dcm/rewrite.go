package dcm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// RawElement is one element to write as it is: a tag (group<<16|element),
// its VR and its value bytes (little endian; padded to even length by the
// writer with a space for text VRs, a zero byte otherwise).
type RawElement struct {
	Tag   uint32
	VR    string
	Value []byte
}

// HeadEdit says how RewriteHead changes the head of a file.
type HeadEdit struct {
	// TransferSyntax replaces the file meta's (0002,0010).
	TransferSyntax string
	// Set replaces top-level elements of the data set, or adds them in tag
	// order where the data set has none.
	Set []RawElement
	// Drop leaves top-level elements out.
	Drop []uint32
}

// Tags RewriteHead callers name.
const (
	TagPhotometric         uint32 = 0x00280004
	TagPlanarConfiguration uint32 = 0x00280006
	TagExtendedOffsetTable uint32 = 0x7FE00001
	TagExtendedOffsetLens  uint32 = 0x7FE00002
	TagPixelData           uint32 = 0x7FE00010
	TagIconImageSequence   uint32 = 0x00880200

	maxRewriteDepth = 64
)

// RewriteHead rewrites head, the bytes of a Part 10 file before its
// top-level Pixel Data element (preamble, file meta, then data set
// elements in Explicit VR Little Endian, as every encapsulated syntax
// writes them), for a file whose pixel data is re-encoded: the file meta
// names the new transfer syntax (its group length recomputed) and the
// top-level elements of e.Set and e.Drop are changed. Every other byte is
// copied as it is. Sequences are walked, not parsed, so private and
// undefined-length content survives.
func RewriteHead(head []byte, e HeadEdit) ([]byte, error) {
	if len(head) < 132 || string(head[128:132]) != "DICM" {
		return nil, invalidf("rewrite: no DICM prefix")
	}
	out := slices.Clone(head[:132])
	pos := 132
	var meta []byte
	for pos < len(head) {
		tag, _, vl, hdr, err := explicitHeader(head, pos)
		if err != nil {
			return nil, err
		}
		if tag>>16 != 0x0002 {
			break
		}
		if vl == undefinedLength || pos+hdr+int(vl) > len(head) {
			return nil, invalidf("rewrite: file meta element (%04X,%04X) runs past the head", tag>>16, tag&0xFFFF)
		}
		next := pos + hdr + int(vl)
		switch tag {
		case 0x00020000: // recomputed below
		case 0x00020010:
			meta = appendElement(meta, RawElement{Tag: tag, VR: "UI", Value: []byte(e.TransferSyntax)})
		default:
			meta = append(meta, head[pos:next]...)
		}
		pos = next
	}
	if e.TransferSyntax != "" && !hasTag(meta, 0x00020010) {
		return nil, invalidf("rewrite: file meta has no TransferSyntaxUID")
	}
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(len(meta)))
	out = appendElement(out, RawElement{Tag: 0x00020000, VR: "UL", Value: gl})
	out = append(out, meta...)

	set := slices.Clone(e.Set)
	slices.SortFunc(set, func(a, b RawElement) int { return int(int64(a.Tag) - int64(b.Tag)) })
	for pos < len(head) {
		tag, vr, vl, hdr, err := explicitHeader(head, pos)
		if err != nil {
			return nil, err
		}
		next, err := skipValue(head, pos+hdr, vr, vl, true, 0)
		if err != nil {
			return nil, fmt.Errorf("rewrite: element (%04X,%04X): %w", tag>>16, tag&0xFFFF, err)
		}
		for len(set) > 0 && set[0].Tag < tag {
			out, set = appendElement(out, set[0]), set[1:]
		}
		switch {
		case len(set) > 0 && set[0].Tag == tag:
			out, set = appendElement(out, set[0]), set[1:]
		case slices.Contains(e.Drop, tag):
		default:
			out = append(out, head[pos:next]...)
		}
		pos = next
	}
	for _, el := range set {
		out = appendElement(out, el)
	}
	return out, nil
}

// explicitHeader reads the Explicit VR Little Endian element header at pos.
func explicitHeader(b []byte, pos int) (tag uint32, vr string, vl uint32, hdr int, err error) {
	if pos+8 > len(b) {
		return 0, "", 0, 0, invalidf("rewrite: element header at %d runs past the head", pos)
	}
	tag = uint32(binary.LittleEndian.Uint16(b[pos:]))<<16 | uint32(binary.LittleEndian.Uint16(b[pos+2:]))
	if tag>>16 == 0xFFFE {
		return tag, "", binary.LittleEndian.Uint32(b[pos+4:]), 8, nil
	}
	vr = string(b[pos+4 : pos+6])
	if longVR(vr) {
		if pos+12 > len(b) {
			return 0, "", 0, 0, invalidf("rewrite: element header at %d runs past the head", pos)
		}
		return tag, vr, binary.LittleEndian.Uint32(b[pos+8:]), 12, nil
	}
	return tag, vr, uint32(binary.LittleEndian.Uint16(b[pos+6:])), 8, nil
}

// implicitHeader reads an Implicit VR Little Endian element header (the
// content of an undefined-length UN element, PS3.5 6.2.2).
func implicitHeader(b []byte, pos int) (tag, vl uint32, err error) {
	if pos+8 > len(b) {
		return 0, 0, invalidf("rewrite: element header at %d runs past the head", pos)
	}
	tag = uint32(binary.LittleEndian.Uint16(b[pos:]))<<16 | uint32(binary.LittleEndian.Uint16(b[pos+2:]))
	return tag, binary.LittleEndian.Uint32(b[pos+4:]), nil
}

// skipValue returns the position after a value starting at pos: its
// length when defined, else the end of its items and sequence delimiter.
func skipValue(b []byte, pos int, vr string, vl uint32, explicit bool, depth int) (int, error) {
	if vl != undefinedLength {
		if end := pos + int(vl); end <= len(b) {
			return end, nil
		}
		return 0, invalidf("rewrite: value of %d bytes at %d runs past the head", vl, pos)
	}
	if depth >= maxRewriteDepth {
		return 0, invalidf("rewrite: nesting deeper than %d", maxRewriteDepth)
	}
	inner := explicit && vr != "UN"
	for {
		tag, ivl, err := implicitHeader(b, pos) // items have no VR
		if err != nil {
			return 0, err
		}
		pos += 8
		switch {
		case tag == tagSequenceDelimitation:
			return pos, nil
		case tag != tagItem:
			return 0, invalidf("rewrite: (%04X,%04X) where an item was expected", tag>>16, tag&0xFFFF)
		case ivl != undefinedLength:
			if pos += int(ivl); pos > len(b) {
				return 0, invalidf("rewrite: item runs past the head")
			}
		default:
			if pos, err = skipItem(b, pos, inner, depth+1); err != nil {
				return 0, err
			}
		}
	}
}

// skipItem returns the position after an undefined-length item's elements
// and its delimiter.
func skipItem(b []byte, pos int, explicit bool, depth int) (int, error) {
	for {
		var (
			tag, vl uint32
			vr      string
			hdr     = 8
			err     error
		)
		if explicit {
			tag, vr, vl, hdr, err = explicitHeader(b, pos)
		} else {
			tag, vl, err = implicitHeader(b, pos)
		}
		if err != nil {
			return 0, err
		}
		if tag == tagItemDelimitation {
			return pos + 8, nil
		}
		if pos, err = skipValue(b, pos+hdr, vr, vl, explicit, depth); err != nil {
			return 0, err
		}
	}
}

// appendElement writes an Explicit VR Little Endian element, padding its
// value to even length.
func appendElement(out []byte, e RawElement) []byte {
	v := e.Value
	if len(v)%2 == 1 {
		pad := byte(0)
		switch e.VR {
		case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT":
			pad = ' '
		}
		v = append(slices.Clone(v), pad)
	}
	out = binary.LittleEndian.AppendUint16(out, uint16(e.Tag>>16))
	out = binary.LittleEndian.AppendUint16(out, uint16(e.Tag))
	out = append(out, e.VR...)
	if longVR(e.VR) {
		out = append(out, 0, 0)
		return append(binary.LittleEndian.AppendUint32(out, uint32(len(v))), v...)
	}
	return append(binary.LittleEndian.AppendUint16(out, uint16(len(v))), v...)
}

// AppendElement writes e in Explicit VR Little Endian (a value of
// undefined length is not written by it).
func AppendElement(out []byte, e RawElement) []byte { return appendElement(out, e) }

// AppendElementHeader writes the header of an Explicit VR Little Endian
// element whose value of length vl (0xFFFFFFFF, undefined, for encapsulated
// pixel data) follows.
func AppendElementHeader(out []byte, tag uint32, vr string, vl uint32) []byte {
	out = binary.LittleEndian.AppendUint16(out, uint16(tag>>16))
	out = binary.LittleEndian.AppendUint16(out, uint16(tag))
	out = append(out, vr...)
	if longVR(vr) {
		out = append(out, 0, 0)
		return binary.LittleEndian.AppendUint32(out, vl)
	}
	return binary.LittleEndian.AppendUint16(out, uint16(vl))
}

func hasTag(elems []byte, tag uint32) bool {
	for pos := 0; pos < len(elems); {
		t, _, vl, hdr, err := explicitHeader(elems, pos)
		if err != nil {
			return false
		}
		if t == tag {
			return true
		}
		pos += hdr + int(vl)
	}
	return false
}
