package scp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
)

// Query/Retrieve information models served by C-FIND.
const (
	StudyRootFind   = "1.2.840.10008.5.1.4.1.2.2.1"
	PatientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
)

const (
	tagLevel   = "00080052" // QueryRetrieveLevel
	tagCharset = "00080005" // SpecificCharacterSet
	tagRetAE   = "00080054" // RetrieveAETitle
	tagStudy   = "0020000D"
	tagSeries  = "0020000E"
)

// Find answers C-FIND at STUDY, SERIES and IMAGE level from the index,
// with QIDO-RS's matching (archive.Search) and the visibility rules of a
// clinician of the AE's institution. Answers are in UTF-8 (ISO_IR 192).
func (s *Service) Find(ctx context.Context, a *dimse.Association, rq *dimse.FindRequest, match func([]byte) error) (uint16, string) {
	status, comment, n := s.find(ctx, a, rq, match)
	s.op(ctx, a, "C-FIND", status, strings.TrimPrefix(comment+fmt.Sprintf("; %d match(es)", n), "; "), "", "", "")
	return status, clipComment(comment)
}

func (s *Service) find(ctx context.Context, a *dimse.Association, rq *dimse.FindRequest, match func([]byte) error) (uint16, string, int) {
	ss := sessionOf(ctx)
	p, err := ss.ae.Principal(access.OpQuery)
	if err != nil {
		return 0x0124, err.Error(), 0
	}
	ctx = auth.WithPrincipal(ctx, p)
	implicit := rq.TransferSyntax == dcm.ImplicitVRLittleEndian
	keys, err := decodeIdentifier(rq.Identifier, implicit)
	if err != nil {
		return 0xC000, "identifier: " + err.Error(), 0
	}
	if cs := keys[tagCharset]; cs != "" {
		// GB18030, Latin-1, ... queries match the UTF-8 index.
		for tag, v := range keys {
			keys[tag] = dcm.DecodeText(cs, v)
		}
	}
	q := archive.Query{Limit: archive.MaxLimit}
	patients := false
	switch lv := strings.TrimSpace(keys[tagLevel]); lv {
	case "PATIENT":
		if rq.SOPClass != PatientRootFind {
			return 0xC000, "PATIENT level is of the Patient Root model", 0
		}
		// The index has no patient rows: patients are found through their
		// studies, the visibility rule applying to each.
		q.Level, patients = archive.LevelStudy, true
	case "STUDY":
		q.Level = archive.LevelStudy
	case "SERIES":
		q.Level = archive.LevelSeries
	case "IMAGE":
		q.Level = archive.LevelInstance
	default:
		return 0xC000, fmt.Sprintf("QueryRetrieveLevel %q is not served (PATIENT, STUDY, SERIES, IMAGE)", lv), 0
	}
	var asked []string
	block := false
	for tag, v := range keys {
		switch tag {
		case tagLevel, tagCharset:
			continue
		}
		asked = append(asked, tag)
		v = strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(tag, recognitionGroup):
			// The recognition block is returned, never matched.
			block = true
		case patients && patientCounts[tag]:
		case v == "":
		case tag == tagStudy && q.Level > archive.LevelStudy && !strings.ContainsAny(v, `\*?`):
			q.Study = v
		case tag == tagSeries && q.Level > archive.LevelSeries && !strings.ContainsAny(v, `\*?`):
			q.Series = v
		default:
			q.Params = append(q.Params, archive.Param{Tag: tag, Value: strings.ReplaceAll(v, `\`, ",")})
		}
	}
	for _, tag := range asked {
		if !strings.HasPrefix(tag, recognitionGroup) && !patientCounts[tag] {
			q.Include = append(q.Include, tag)
		}
	}
	if patients {
		q.Include = append(q.Include, tagPatientID, tagIssuer, tagStudySeries, tagStudyInstances)
	}
	res, err := s.opt.Archive.Search(ctx, q, archive.Scope{})
	var inv *archive.InvalidError
	switch {
	case errors.As(err, &inv):
		return 0xC000, inv.Error(), 0
	case err != nil:
		return 0xA700, "index unavailable, retry later", 0
	}
	items := res.Items
	if patients {
		items = byPatient(items)
	}
	for i, item := range items {
		out := dcm.Dataset{tagCharset: {VR: "CS", Value: []any{"ISO_IR 192"}}, tagLevel: {VR: "CS", Value: []any{keys[tagLevel]}}}
		for _, tag := range asked {
			if e := item[tag]; e != nil {
				out[tag] = e
			} else if tag == tagRetAE {
				out[tag] = &dcm.Element{VR: "AE", Value: []any{s.opt.AETitle}}
			} else {
				out[tag] = &dcm.Element{VR: dcm.VRForTag(tag)}
			}
		}
		if block {
			for tag, e := range item {
				if strings.HasPrefix(tag, recognitionGroup) {
					out[tag] = e
				}
			}
		}
		if err := match(encodeDataset(out, implicit)); err != nil {
			if errors.Is(err, dimse.ErrCanceled) {
				return 0xFE00, "canceled", i
			}
			return 0xA700, "send a match: " + err.Error(), i
		}
	}
	return 0, "", len(items)
}

// recognitionGroup is the private group of the recognition block that
// study answers carry (package recognition, through archive's Annotator):
// a query naming any of its elements gets the study's block.
const recognitionGroup = "0011"

const (
	tagIssuer           = "00100021"
	tagPatientStudies   = "00201200" // NumberOfPatientRelatedStudies
	tagPatientSeries    = "00201202"
	tagPatientInstances = "00201204"
	tagStudySeries      = "00201206" // NumberOfStudyRelatedSeries
	tagStudyInstances   = "00201208"
)

// patientCounts are the PATIENT level's computed attributes.
var patientCounts = map[string]bool{tagPatientStudies: true, tagPatientSeries: true, tagPatientInstances: true}

// byPatient folds study answers into one answer per patient (PatientID
// and its issuer), in the order of their first study, with the patient's
// counts of studies, series and instances.
func byPatient(studies []dcm.Dataset) []dcm.Dataset {
	var out []dcm.Dataset
	at := map[string]int{}
	counts := map[string][3]int{}
	for _, st := range studies {
		key := st.String(tagPatientID) + "\\" + st.String(tagIssuer)
		if _, ok := at[key]; !ok {
			at[key] = len(out)
			p := dcm.Dataset{}
			for tag, e := range st {
				if strings.HasPrefix(tag, "0010") {
					p[tag] = e
				}
			}
			out = append(out, p)
		}
		c := counts[key]
		se, _ := st.Int(tagStudySeries)
		in, _ := st.Int(tagStudyInstances)
		counts[key] = [3]int{c[0] + 1, c[1] + se, c[2] + in}
	}
	for key, i := range at {
		c := counts[key]
		for j, tag := range []string{tagPatientStudies, tagPatientSeries, tagPatientInstances} {
			out[i][tag] = &dcm.Element{VR: "IS", Value: []any{float64(c[j])}}
		}
	}
	return out
}

// decodeIdentifier reads the top-level elements of a query identifier
// (little endian, implicit or explicit VR) as strings; sequences are
// skipped. Bounds: the identifier is at most 64 KiB (package dimse).
func decodeIdentifier(b []byte, implicit bool) (map[string]string, error) {
	out := map[string]string{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("ends inside an element header")
		}
		group, elem := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		tag := fmt.Sprintf("%04X%04X", group, elem)
		var vr string
		var n uint32
		hdr := 8
		if implicit {
			vr, n = dcm.VRForTag(tag), binary.LittleEndian.Uint32(b[4:])
		} else {
			vr = string(b[4:6])
			switch vr {
			case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
				if len(b) < 12 {
					return nil, errors.New("ends inside an element header")
				}
				n, hdr = binary.LittleEndian.Uint32(b[8:]), 12
			default:
				n = uint32(binary.LittleEndian.Uint16(b[6:]))
			}
		}
		if n == math.MaxUint32 {
			return nil, fmt.Errorf("element %s has undefined length: sequences are not matched", tag)
		}
		if uint64(n) > uint64(len(b)-hdr) {
			return nil, fmt.Errorf("element %s declares %d bytes, %d remain", tag, n, len(b)-hdr)
		}
		if vr != "SQ" && group != 0xFFFE {
			out[tag] = strings.TrimRight(string(b[hdr:hdr+int(n)]), " \x00")
		}
		b = b[hdr+int(n):]
	}
	return out, nil
}

// encodeDataset writes a flat data set (no sequences) in little endian,
// implicit or explicit VR, tags in ascending order.
func encodeDataset(ds dcm.Dataset, implicit bool) []byte {
	tags := make([]string, 0, len(ds))
	for t := range ds {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	var b []byte
	for _, t := range tags {
		e := ds[t]
		if e == nil || e.VR == "SQ" {
			continue
		}
		v := valueBytes(e)
		tv, err := strconv.ParseUint(t, 16, 32)
		if err != nil {
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(tv>>16))
		b = binary.LittleEndian.AppendUint16(b, uint16(tv))
		switch {
		case implicit:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		case strings.Contains("OB OW OF UT UN UC UR OD OL OV SV UV", e.VR):
			b = append(b, e.VR...)
			b = append(b, 0, 0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		default:
			b = append(b, e.VR...)
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		}
		b = append(b, v...)
	}
	return b
}

func valueBytes(e *dcm.Element) []byte {
	var b []byte
	switch e.VR {
	case "US", "SS":
		for _, v := range e.Value {
			f, _ := v.(float64)
			b = binary.LittleEndian.AppendUint16(b, uint16(int64(f)))
		}
		return b
	case "UL", "SL":
		for _, v := range e.Value {
			f, _ := v.(float64)
			b = binary.LittleEndian.AppendUint32(b, uint32(int64(f)))
		}
		return b
	case "FL":
		for _, v := range e.Value {
			f, _ := v.(float64)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f)))
		}
		return b
	case "FD":
		for _, v := range e.Value {
			f, _ := v.(float64)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		return b
	}
	parts := make([]string, 0, len(e.Value))
	for i := range e.Value {
		switch v := e.Value[i].(type) {
		case string:
			parts = append(parts, v)
		case float64:
			parts = append(parts, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			if e.VR == "PN" {
				pn := dcm.Dataset{"X": e}.PN("X")
				if i > 0 {
					pn = dcm.Dataset{"X": {VR: "PN", Value: e.Value[i : i+1]}}.PN("X")
				}
				parts = append(parts, strings.TrimRight(pn.Alphabetic+"="+pn.Ideographic+"="+pn.Phonetic, "="))
			}
		}
	}
	s := strings.Join(parts, `\`)
	if len(s)%2 == 1 {
		if e.VR == "UI" {
			s += "\x00"
		} else {
			s += " "
		}
	}
	return []byte(s)
}
