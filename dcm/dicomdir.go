package dcm

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// MediaStorageDirectoryStorage is the SOP class of a DICOMDIR (PS3.10).
const MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"

// mediaImplementationClassUID names this writer in the DICOMDIR's file
// meta (a fixed 2.25 UID); mediaImplementationVersion goes with it.
const (
	mediaImplementationClassUID = "2.25.250163853151848463305226446612573187921"
	mediaImplementationVersion  = "IMGCLOUD_MEDIA"
)

// DirStudy is what a DICOMDIR says of the one study of a file set: its
// patient, the study and its series and instances, in the order the
// records are written. Strings are UTF-8.
type DirStudy struct {
	PatientName, PatientID                  string
	StudyUID, StudyDate, StudyTime, StudyID string
	StudyDescription, AccessionNumber       string
	Series                                  []DirSeries
}

// DirSeries is one series of a DirStudy.
type DirSeries struct {
	UID, Modality string
	Number        int
	Instances     []DirInstance
}

// DirInstance is one file of the file set: its File ID components (at most
// 8, each of 1 to 8 characters of A-Z, 0-9 and _, PS3.10 8.2), its SOP
// class, instance and transfer syntax as in its file meta, and its number.
type DirInstance struct {
	FileID                        []string
	SOPClass, SOP, TransferSyntax string
	Number                        int
}

// ValidFileID says whether a File ID follows PS3.10 8.2 (and PS3.12's
// ISO 9660 media: at most 8 components of at most 8 characters).
func ValidFileID(id []string) bool {
	if len(id) == 0 || len(id) > 8 {
		return false
	}
	for _, c := range id {
		if len(c) == 0 || len(c) > 8 {
			return false
		}
		for _, r := range c {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
	}
	return true
}

// dirElem is one attribute of a directory record or of the DICOMDIR's
// data set, in explicit VR little endian.
type dirElem struct {
	tag   uint32
	vr    string
	value []byte
}

func dirStr(tag uint32, vr, v string) dirElem { return dirElem{tag, vr, []byte(v)} }
func dirUL(tag uint32, v uint32) dirElem {
	return dirElem{tag, "UL", binary.LittleEndian.AppendUint32(nil, v)}
}
func dirUS(tag uint32, v uint16) dirElem {
	return dirElem{tag, "US", binary.LittleEndian.AppendUint16(nil, v)}
}

// appendDirElem encodes e (tags ascending is the caller's duty).
func appendDirElem(out []byte, e dirElem) []byte {
	v := e.value
	if len(v)%2 == 1 { // even length: UIDs pad with NUL, text with space
		pad := byte(' ')
		if e.vr == "UI" || e.vr == "OB" {
			pad = 0
		}
		v = append(append([]byte(nil), v...), pad)
	}
	out = binary.LittleEndian.AppendUint16(out, uint16(e.tag>>16))
	out = binary.LittleEndian.AppendUint16(out, uint16(e.tag))
	out = append(out, e.vr...)
	switch e.vr {
	case "OB", "SQ", "UN", "UT", "UC", "UR":
		out = append(out, 0, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
	default:
		out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
	}
	return append(out, v...)
}

// record is one directory record: its type, its own attributes and its
// links (indexes into the record list, -1 for none).
type record struct {
	typ         string
	attrs       []dirElem
	next, lower int
}

// DICOMDIR encodes the Basic Directory (PS3.3 F.3) of a file set holding
// one study, as a Part 10 file (Media Storage Directory Storage, explicit
// VR little endian): a PATIENT record, a STUDY record below it, a SERIES
// record per series and an IMAGE record per instance, with the offsets
// (from the first byte of the file) of each record's next and first
// lower-level record. fileSetID is at most 16 characters of A-Z, 0-9, _
// and space.
func DICOMDIR(fileSetID string, st DirStudy) ([]byte, error) {
	if !ValidUID(st.StudyUID) {
		return nil, fmt.Errorf("dicomdir: study %q is not a valid UID", st.StudyUID)
	}
	if len(st.Series) == 0 {
		return nil, fmt.Errorf("dicomdir: study %s has no series", st.StudyUID)
	}
	charset := ""
	if !isASCII(st.PatientName + st.PatientID + st.StudyDescription + st.AccessionNumber + st.StudyID) {
		charset = "ISO_IR 192"
	}
	withCharset := func(attrs ...dirElem) []dirElem {
		if charset != "" {
			attrs = append([]dirElem{dirStr(0x00080005, "CS", charset)}, attrs...)
		}
		return attrs
	}
	// Type 1 attributes need a value; what the index lacks gets a stand-in.
	or := func(s, dflt string) string {
		if strings.TrimSpace(s) == "" {
			return dflt
		}
		return s
	}
	recs := []record{{typ: "PATIENT", next: -1, lower: 1, attrs: withCharset(
		dirStr(0x00100010, "PN", st.PatientName),
		dirStr(0x00100020, "LO", or(st.PatientID, "UNKNOWN")),
	)}, {typ: "STUDY", next: -1, lower: -1, attrs: withCharset(
		dirStr(0x00080020, "DA", or(st.StudyDate, "19000101")),
		dirStr(0x00080030, "TM", or(st.StudyTime, "000000")),
		dirStr(0x00080050, "SH", st.AccessionNumber),
		dirStr(0x00081030, "LO", st.StudyDescription),
		dirStr(0x0020000D, "UI", st.StudyUID),
		dirStr(0x00200010, "SH", or(st.StudyID, "1")),
	)}}
	prevSeries := -1
	for i, se := range st.Series {
		if !ValidUID(se.UID) || len(se.Instances) == 0 {
			return nil, fmt.Errorf("dicomdir: series %q: not a valid UID or no instances", se.UID)
		}
		si := len(recs)
		if prevSeries < 0 {
			recs[1].lower = si
		} else {
			recs[prevSeries].next = si
		}
		prevSeries = si
		num := se.Number
		if num == 0 {
			num = i + 1
		}
		recs = append(recs, record{typ: "SERIES", next: -1, lower: si + 1, attrs: []dirElem{
			dirStr(0x00080060, "CS", or(se.Modality, "OT")),
			dirStr(0x0020000E, "UI", se.UID),
			dirStr(0x00200011, "IS", strconv.Itoa(num)),
		}})
		for j, in := range se.Instances {
			if !ValidFileID(in.FileID) || !ValidUID(in.SOPClass) || !ValidUID(in.SOP) || !ValidUID(in.TransferSyntax) {
				return nil, fmt.Errorf("dicomdir: instance %q (file %v): invalid file ID or UIDs", in.SOP, in.FileID)
			}
			next := -1
			if j+1 < len(se.Instances) {
				next = len(recs) + 1
			}
			n := in.Number
			if n == 0 {
				n = j + 1
			}
			recs = append(recs, record{typ: "IMAGE", next: next, lower: -1, attrs: []dirElem{
				dirStr(0x00041500, "CS", strings.Join(in.FileID, `\`)),
				dirStr(0x00041510, "UI", in.SOPClass),
				dirStr(0x00041511, "UI", in.SOP),
				dirStr(0x00041512, "UI", in.TransferSyntax),
				dirStr(0x00200013, "IS", strconv.Itoa(n)),
			}})
		}
	}

	sop, err := newUID()
	if err != nil {
		return nil, err
	}
	meta := metaGroup(sop)
	// The offsets are fixed-size values: encode once with zeros to learn
	// where each record starts, then again with the offsets.
	encodeRec := func(r record, off []uint32) []byte {
		at := func(i int) uint32 {
			if i < 0 {
				return 0
			}
			return off[i]
		}
		b := appendDirElem(nil, dirUL(0x00041400, at(r.next)))
		b = appendDirElem(b, dirUS(0x00041410, 0xFFFF))
		b = appendDirElem(b, dirUL(0x00041420, at(r.lower)))
		b = appendDirElem(b, dirStr(0x00041430, "CS", r.typ))
		for _, e := range r.attrs {
			b = appendDirElem(b, e)
		}
		return b
	}
	head := func(first uint32) []byte {
		b := appendDirElem(nil, dirStr(0x00041130, "CS", fileSetID))
		b = appendDirElem(b, dirUL(0x00041200, first))
		b = appendDirElem(b, dirUL(0x00041202, first)) // one patient: first is last
		return appendDirElem(b, dirUS(0x00041212, 0))
	}
	off := make([]uint32, len(recs))
	pos := uint32(128+4+len(meta)) + uint32(len(head(0))) + 12 // + the sequence's tag, VR, reserved, length
	bodies := make([][]byte, len(recs))
	for i, r := range recs {
		off[i] = pos
		pos += 8 + uint32(len(encodeRec(r, off)))
	}
	var seq []byte
	for i, r := range recs {
		bodies[i] = encodeRec(r, off)
		seq = binary.LittleEndian.AppendUint32(seq, 0xE000FFFE)
		seq = binary.LittleEndian.AppendUint32(seq, uint32(len(bodies[i])))
		seq = append(seq, bodies[i]...)
	}
	out := make([]byte, 128, int(pos))
	out = append(out, "DICM"...)
	out = append(out, meta...)
	out = append(out, head(off[0])...)
	out = appendDirElem(out, dirElem{0x00041220, "SQ", seq})
	if uint32(len(out)) != pos {
		return nil, fmt.Errorf("dicomdir: layout is %d bytes, offsets assumed %d", len(out), pos)
	}
	return out, nil
}

// metaGroup is the file meta information group of a DICOMDIR, with its
// group length.
func metaGroup(sop string) []byte {
	var g []byte
	g = appendDirElem(g, dirElem{0x00020001, "OB", []byte{0, 1}})
	g = appendDirElem(g, dirStr(0x00020002, "UI", MediaStorageDirectoryStorage))
	g = appendDirElem(g, dirStr(0x00020003, "UI", sop))
	g = appendDirElem(g, dirStr(0x00020010, "UI", "1.2.840.10008.1.2.1"))
	g = appendDirElem(g, dirStr(0x00020012, "UI", mediaImplementationClassUID))
	g = appendDirElem(g, dirStr(0x00020013, "SH", mediaImplementationVersion))
	return append(appendDirElem(nil, dirUL(0x00020000, uint32(len(g)))), g...)
}

// newUID makes a random 2.25 UID (PS3.5 B.2).
func newUID() (string, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 122))
	if err != nil {
		return "", fmt.Errorf("new UID: %w", err)
	}
	return "2.25." + n.String(), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
