// Package demo synthesises the studies `gateway serve --demo` loads into an
// empty gateway and `gateway demo` pushes to a running one: eight studies of
// six patients in Chinese hospitals (PET-CT, MR, CT head with a multi-frame
// series, chest radiographs, scanned outside films), generated in code with
// no input file, no Go module cache and no network.
//
// Images are phantoms, not patient data: a head in HU with rescale slope and
// intercept, T2-weighted head or prostate slices, PA and lateral chest
// radiographs with 12 bits stored, a PET slice in SUV with a window that
// fits, and 8-bit secondary captures. Sex, body part, descriptions and
// modality agree with each other and with the recognition catalogue item
// each study is meant to match. Identities (patients, names in Han
// characters, pinyin or both, hospitals and issuers, accession numbers,
// dates in the 60 days before today) are reproducible for a given day.
package demo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// File is one demo instance.
type File struct {
	// Path is where WriteDir puts the file, relative and slash separated.
	Path                        string
	StudyUID, SeriesUID, SOPUID string
	Modality                    string
	// Data is the Part 10 file (explicit VR little endian).
	Data []byte
}

// Files synthesises the demo instances, study after study, dated in the 60
// days before today (the current date when today is zero).
func Files(today time.Time) ([]File, error) {
	if today.IsZero() {
		today = time.Now()
	}
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	type job struct {
		k  kind
		st *studyPlan
		se *seriesPlan
		in *instancePlan
	}
	var jobs []job
	small, bigs := 0, 0
	for _, st := range plan(today) {
		var k kind
		if st.big {
			k = bigKinds()[bigs%2]
			bigs++
		} else {
			k = smallKinds()[small%3]
			small++
		}
		if k.name == "mr" && st.patient.sex == "F" {
			k = mrHead()
		}
		for _, se := range st.series {
			for _, in := range se.instances {
				jobs = append(jobs, job{k, st, se, in})
			}
		}
	}
	// Instances are independent (each draws its pixel noise from its own
	// seed), so they are made in parallel: the demo loads at every fresh
	// start.
	c := newCache()
	out := make([]File, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pix := newRand(demoSeed ^ int64(j.st.index+1)<<16 ^ int64(j.se.number)<<8 ^ int64(j.in.number))
			f, err := instance(pix, c, j.k, j.st, j.se, j.in)
			if err != nil {
				err = fmt.Errorf("demo study %d: %w", j.st.index+1, err)
			}
			out[i], errs[i] = f, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteDir writes the demo instances of Files(today) under dir.
func WriteDir(dir string, today time.Time) ([]File, error) {
	files, err := Files(today)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("write demo: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return nil, fmt.Errorf("write demo: %w", err)
		}
	}
	return files, nil
}

// Formats of DICOM DA and TM values.
const (
	daFormat = "20060102"
	tmFormat = "150405"
)

// instance builds one instance: identity, then the kind's image.
func instance(r *rand.Rand, c *cache, k kind, st *studyPlan, se *seriesPlan, in *instancePlan) (File, error) {
	p := st.patient
	zh := p.zh()
	date := st.when.Format(daFormat)
	studyDesc := k.study.in(zh)
	var b builder
	b.str("SpecificCharacterSet", charsetFor(p.style))
	b.str("InstanceCreationDate", date)
	b.str("InstanceCreationTime", in.when.Format(tmFormat))
	b.str("SOPInstanceUID", in.uid)
	b.str("StudyDate", date)
	b.str("SeriesDate", date)
	b.str("ContentDate", date)
	b.str("StudyTime", st.when.Format(tmFormat))
	b.str("SeriesTime", se.when.Format(tmFormat))
	b.str("ContentTime", in.when.Format(tmFormat))
	b.str("AccessionNumber", st.accession)
	b.str("InstitutionName", p.hosp.name(zh))
	b.str("ReferringPhysicianName", st.referring)
	b.str("TimezoneOffsetFromUTC", "+0800")
	b.str("StudyDescription", studyDesc)
	b.str("SeriesDescription", k.series[se.number-1].in(zh))
	b.str("Manufacturer", "IMGCLOUD")
	b.str("ManufacturerModelName", "Demo phantom "+k.modality)
	b.str("SoftwareVersions", "demo 1")
	b.str("PatientName", p.pn())
	b.str("PatientID", p.id)
	b.str("IssuerOfPatientID", p.hosp.issuer)
	b.str("PatientBirthDate", p.birth.Format(daFormat))
	b.str("PatientSex", p.sex)
	b.str("PatientAge", p.ageAt(st.when))
	b.str("PatientWeight", strconv.Itoa(p.weight))
	b.str("BodyPartExamined", k.bodyPart)
	b.str("StudyInstanceUID", st.uid)
	b.str("SeriesInstanceUID", se.uid)
	b.str("StudyID", st.id)
	b.str("SeriesNumber", strconv.Itoa(se.number))
	b.str("InstanceNumber", strconv.Itoa(in.number))
	b.str("FrameOfReferenceUID", se.frameUID)
	b.str("Modality", k.modality)
	sopClass := k.image(&b, r, c, se.number, in.number)
	b.str("SOPClassUID", sopClass)
	data, err := part10(sopClass, in.uid, &b)
	if err != nil {
		return File{}, err
	}
	return File{
		Path:     fmt.Sprintf("study%03d/series%02d/img%04d.dcm", st.index+1, se.number, in.number),
		StudyUID: st.uid, SeriesUID: se.uid, SOPUID: in.uid, Modality: k.modality, Data: data,
	}, nil
}

// name returns the hospital name in Chinese or English.
func (h hospital) name(zh bool) string {
	if zh {
		return h.zh
	}
	return h.en
}
