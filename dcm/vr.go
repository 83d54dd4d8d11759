package dcm

import (
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Tags the package treats specially, as 0xGGGGEEEE.
const (
	tagSpecificCharacterSet = 0x00080005
	tagSOPClassUID          = 0x00080016
	tagSOPInstanceUID       = 0x00080018
	tagStudyInstanceUID     = 0x0020000D
	tagSeriesInstanceUID    = 0x0020000E
	tagNumberOfFrames       = 0x00280008
	tagRows                 = 0x00280010
	tagColumns              = 0x00280011
	tagSamplesPerPixel      = 0x00280002
	tagBitsAllocated        = 0x00280100
	tagFloatPixelData       = 0x7FE00008
	tagDoubleFloatPixelData = 0x7FE00009
	tagPixelData            = 0x7FE00010
	// Extended Offset Table and its lengths (PS3.5 A.4, PS3.3 C.7.6.3).
	tagExtendedOffsetTable        = 0x7FE00001
	tagExtendedOffsetTableLengths = 0x7FE00002
	tagItem                       = 0xFFFEE000
	tagItemDelimitation           = 0xFFFEE00D
	tagSequenceDelimitation       = 0xFFFEE0DD

	tagMediaStorageSOPClassUID = 0x00020002
	tagTransferSyntaxUID       = 0x00020010

	undefinedLength = 0xFFFFFFFF
)

// vrInfo describes how a value representation is encoded.
type vrInfo struct {
	long   bool // explicit VR header has 2 reserved bytes and a 4-byte length
	binary bool // value is raw bytes (InlineBinary / BulkDataURI in JSON)
	word   int  // size of one binary number (for fixed-size VRs and byte swapping)
}

var vrTable = map[string]vrInfo{
	"AE": {}, "AS": {}, "CS": {}, "DA": {}, "DS": {}, "DT": {}, "IS": {},
	"LO": {}, "LT": {}, "PN": {}, "SH": {}, "ST": {}, "TM": {}, "UI": {},
	"UC": {long: true}, "UR": {long: true}, "UT": {long: true},
	"AT": {word: 4}, "FL": {word: 4}, "FD": {word: 8},
	"SL": {word: 4}, "SS": {word: 2}, "UL": {word: 4}, "US": {word: 2},
	"SV": {long: true, word: 8}, "UV": {long: true, word: 8},
	"SQ": {long: true},
	"OB": {long: true, binary: true, word: 1},
	"OD": {long: true, binary: true, word: 8},
	"OF": {long: true, binary: true, word: 4},
	"OL": {long: true, binary: true, word: 4},
	"OV": {long: true, binary: true, word: 8},
	"OW": {long: true, binary: true, word: 2},
	"UN": {long: true, binary: true, word: 1},
}

// vrName returns the VR spelled by b without allocating for known VRs.
func vrName(b []byte) string {
	if name, ok := vrNames[[2]byte{b[0], b[1]}]; ok {
		return name
	}
	return string(b)
}

var vrNames = func() map[[2]byte]string {
	m := make(map[[2]byte]string, len(vrTable))
	for name := range vrTable {
		m[[2]byte{name[0], name[1]}] = name
	}
	return m
}()

// implicitVR is the VR of t in an implicit VR transfer syntax: the first
// VR of the data dictionary.
func implicitVR(t uint32) string {
	tg := tag.Tag{Group: uint16(t >> 16), Element: uint16(t)}
	if tg == tag.PixelData || tg == tag.OverlayData {
		return "OW"
	}
	if info, err := tag.Find(tg); err == nil && len(info.VRs) > 0 {
		if _, ok := vrTable[info.VRs[0]]; ok {
			return info.VRs[0]
		}
	}
	return "UN"
}

// syntax is how a data set is encoded.
type syntax struct {
	implicit bool
	big      bool
}

var implicitLE = syntax{implicit: true}

func (sy syntax) order() binary.ByteOrder {
	if sy.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// tagString formats t as "(GGGG,EEEE)" for messages.
func tagString(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }

// tagKey formats t as the DICOM JSON key "GGGGEEEE".
// It is on the hot path of every element, hence no fmt.
func tagKey(t uint32) string {
	const hex = "0123456789ABCDEF"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hex[t&0xF]
		t >>= 4
	}
	return string(b[:])
}

// isGroupLength reports whether t is a group length (gggg,0000).
func isGroupLength(t uint32) bool { return t&0xFFFF == 0 }
