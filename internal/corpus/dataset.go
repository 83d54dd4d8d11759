package corpus

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// Formats of DICOM DA, TM and DT values.
const (
	daFormat = "20060102"
	tmFormat = "150405"
	dtFormat = "20060102150405"
)

// implementationVersion is written as ImplementationVersionName.
const implementationVersion = "IMGCLOUD_CORPUS"

// implementationClassUID is written as ImplementationClassUID: a fixed
// 2.25 UID identifying this generator.
func implementationClassUID() string { return newUID(newRand(0x1a9c10d)) }

// edit sets one attribute. With ifPresent it only replaces an attribute the
// data set already has.
type edit struct {
	t         tag.Tag
	value     any // []string or []int
	ifPresent bool
}

// set returns an edit that always writes a single string value.
func set(t tag.Tag, v string) edit { return edit{t: t, value: []string{v}} }

// replace returns an edit that writes v only where t already exists.
func replace(t tag.Tag, v string) edit { return edit{t: t, value: []string{v}, ifPresent: true} }

// identityEdits returns the edits that give an instance its synthetic
// patient, study, series and instance identity.
func identityEdits(st *studyPlan, se *seriesPlan, in *instancePlan) []edit {
	p := st.patient
	zh := st.zh()
	date := st.when.Format(daFormat)
	studyDesc := st.kind.study.in(zh)
	edits := []edit{
		set(tag.MediaStorageSOPInstanceUID, in.uid),
		set(tag.ImplementationClassUID, implementationClassUID()),
		set(tag.ImplementationVersionName, implementationVersion),
		set(tag.SpecificCharacterSet, charsetFor(p.style)),
		set(tag.SOPInstanceUID, in.uid),
		set(tag.StudyDate, date),
		set(tag.SeriesDate, date),
		set(tag.ContentDate, date),
		set(tag.StudyTime, st.when.Format(tmFormat)),
		set(tag.SeriesTime, se.when.Format(tmFormat)),
		set(tag.ContentTime, in.when.Format(tmFormat)),
		set(tag.AccessionNumber, st.accession),
		set(tag.InstitutionName, p.hosp.name(zh)),
		set(tag.ReferringPhysicianName, st.referring),
		set(tag.StudyDescription, studyDesc),
		set(tag.SeriesDescription, se.desc.in(zh)),
		set(tag.PatientName, p.pn()),
		set(tag.PatientID, p.id),
		set(tag.IssuerOfPatientID, p.hosp.issuer),
		set(tag.PatientBirthDate, p.birth.Format(daFormat)),
		set(tag.PatientSex, p.sex),
		set(tag.PatientAge, p.ageAt(st.when)),
		set(tag.PatientWeight, strconv.Itoa(p.weight)),
		set(tag.StudyInstanceUID, st.uid),
		set(tag.SeriesInstanceUID, se.uid),
		set(tag.StudyID, st.id),
		set(tag.SeriesNumber, strconv.Itoa(se.number)),
		set(tag.InstanceNumber, strconv.Itoa(in.number)),
		replace(tag.FrameOfReferenceUID, se.frameUID),
		replace(tag.AcquisitionDate, date),
		replace(tag.AcquisitionTime, in.when.Format(tmFormat)),
		replace(tag.AcquisitionDateTime, in.when.Format(dtFormat)),
		replace(tag.InstanceCreationDate, date),
		replace(tag.InstanceCreationTime, in.when.Format(tmFormat)),
		replace(tag.TimezoneOffsetFromUTC, "+0800"),
		replace(tag.PerformedProcedureStepStartDate, date),
		replace(tag.PerformedProcedureStepStartTime, st.when.Format(tmFormat)),
		replace(tag.RequestedProcedureDescription, studyDesc),
		replace(tag.PerformedProcedureStepDescription, studyDesc),
	}
	if st.kind.bodyPart != "" {
		edits = append(edits, set(tag.BodyPartExamined, st.kind.bodyPart))
	}
	return edits
}

// dropped reports whether a source attribute must go because it would
// contradict or leak the original identity: other names and IDs of the
// patient, other people's names, de-identification and clinical trial
// attributes, counts of related instances and media file-set identity.
func dropped(t tag.Tag) bool {
	if t.Group == 0x0012 { // clinical trial and de-identification
		return true
	}
	switch t {
	case tag.SourceApplicationEntityTitle,
		tag.PrivateInformationCreatorUID, tag.PrivateInformation,
		tag.InstitutionAddress, tag.InstitutionalDepartmentName,
		tag.PhysiciansOfRecord, tag.PerformingPhysicianName,
		tag.NameOfPhysiciansReadingStudy, tag.OperatorsName,
		tag.PatientBirthTime, tag.OtherPatientIDs, tag.OtherPatientNames,
		tag.OtherPatientIDsSequence, tag.PatientBirthName, tag.PatientAddress,
		tag.PatientMotherBirthName, tag.PatientTelephoneNumbers, tag.PatientComments,
		tag.NumberOfStudyRelatedSeries, tag.NumberOfStudyRelatedInstances,
		tag.NumberOfSeriesRelatedInstances,
		tag.VerifyingObserverName, tag.PersonName, tag.ContentCreatorName,
		tag.StorageMediaFileSetUID, tag.StorageMediaFileSetID:
		return true
	}
	return false
}

// applyEdits returns a new element list: src without dropped attributes,
// with the edits applied, sorted by tag as DICOM requires (dicom.Write
// writes elements in slice order). src and its elements are not modified.
func applyEdits(src []*dicom.Element, edits []edit, drop func(tag.Tag) bool) ([]*dicom.Element, error) {
	present := make(map[tag.Tag]bool, len(src))
	for _, e := range src {
		present[e.Tag] = true
	}
	edited := make(map[tag.Tag]bool, len(edits))
	out := make([]*dicom.Element, 0, len(src)+len(edits))
	for _, ed := range edits {
		if ed.ifPresent && !present[ed.t] {
			continue
		}
		e, err := dicom.NewElement(ed.t, ed.value)
		if err != nil {
			return nil, fmt.Errorf("element %v: %w", ed.t, err)
		}
		edited[ed.t] = true
		out = append(out, e)
	}
	for _, e := range src {
		if edited[e.Tag] || (drop != nil && drop(e.Tag)) {
			continue
		}
		out = append(out, e)
	}
	sortElements(out)
	return out, nil
}

// sortElements orders elements by ascending tag.
func sortElements(elems []*dicom.Element) {
	slices.SortStableFunc(elems, func(a, b *dicom.Element) int {
		if a.Tag.Group != b.Tag.Group {
			return int(a.Tag.Group) - int(b.Tag.Group)
		}
		return int(a.Tag.Element) - int(b.Tag.Element)
	})
}

// writeFile writes elems as a DICOM Part 10 file and returns its size.
func writeFile(path string, elems []*dicom.Element) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = dicom.Write(bw, dicom.Dataset{Elements: elems}, dicom.SkipVRVerification())
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return fi.Size(), nil
}

// outputTransferSyntax maps a source transfer syntax to the one written:
// the library cannot write deflated data sets, so those become explicit VR
// little endian with identical pixel data.
func outputTransferSyntax(ts string) string {
	if ts == uid.DeflatedExplicitVRLittleEndian {
		return uid.ExplicitVRLittleEndian
	}
	return ts
}
