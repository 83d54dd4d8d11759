// Package corpus derives realistic test DICOM studies, either from the real
// files shipped in the testdata of github.com/suyashkumar/dicom (Generate)
// or from synthetic phantoms with no input at all (Phantom). It is a
// development tool (tests, `gwbench corpus`), never linked into the gateway,
// whose demo studies come from internal/demo.
//
// Every generated instance gets fresh 2.25 UIDs, a Chinese patient in one of
// three name spellings, a hospital, dates in the weeks before a given day and
// matching descriptions, while modality, SOP class and pixel data stay those
// of the source file. Output is byte-for-byte reproducible for the same
// options.
package corpus

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/imgcloud/gateway/internal/progress"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Options controls Generate.
type Options struct {
	Studies            int // number of studies; default 10
	SeriesPerStudy     int // default 2
	InstancesPerSeries int // default 3
	// Big is how many of the studies use the large sources (4.dcm, a 7.5 MB
	// chest CR, and 5.dcm, a 1 MB two-frame CT), spread through the list.
	Big  int
	Seed int64
	// Today anchors study dates, spread over the 60 days before it. The zero
	// value means the current date (and so output that changes daily).
	Today time.Time
	// Sources is the directory holding 1.dcm to 6.dcm; default SourceDir().
	Sources string
	// Progress, when set, receives a progress bar.
	Progress io.Writer
}

// withDefaults fills in unset options.
func (o Options) withDefaults() (Options, error) {
	if o.Studies <= 0 {
		o.Studies = 10
	}
	if o.SeriesPerStudy <= 0 {
		o.SeriesPerStudy = 2
	}
	if o.InstancesPerSeries <= 0 {
		o.InstancesPerSeries = 3
	}
	o.Big = max(0, min(o.Big, o.Studies))
	o.Today = dateOnly(o.Today)
	if o.Sources == "" {
		dir, err := SourceDir()
		if err != nil {
			return o, err
		}
		o.Sources = dir
	}
	return o, nil
}

// dateOnly returns midnight UTC of t's calendar date, or of today if t is zero.
func dateOnly(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Generate writes a corpus of studies derived from real source files into
// outDir and returns its manifest, also written as outDir/manifest.json.
func Generate(outDir string, opt Options) (*Manifest, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	studies := planCorpus(opt)
	sources, err := loadSources(opt.Sources, studies)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	total := opt.Studies * opt.SeriesPerStudy * opt.InstancesPerSeries
	bar := progress.New(opt.Progress, int64(total), "corpus")
	defer bar.Finish()

	m := &Manifest{Dir: outDir}
	for _, st := range studies {
		for _, se := range st.series {
			src := sources[se.source]
			for _, in := range se.instances {
				f, err := writeDerived(outDir, src, st, se, in)
				if err != nil {
					return nil, fmt.Errorf("generate: %w", err)
				}
				m.Files = append(m.Files, f)
				bar.Add(1)
			}
		}
	}
	if err := m.Write(filepath.Join(outDir, ManifestName)); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return m, nil
}

// loadSources parses each source file the plan uses, once.
func loadSources(dir string, studies []*studyPlan) (map[string]*source, error) {
	var names []string
	for _, st := range studies {
		for _, se := range st.series {
			if !slices.Contains(names, se.source) {
				names = append(names, se.source)
			}
		}
	}
	out := make(map[string]*source, len(names))
	for _, name := range names {
		s, err := loadSource(dir, name)
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, nil
}

// writeDerived writes one instance derived from src and describes it.
func writeDerived(outDir string, src *source, st *studyPlan, se *seriesPlan, in *instancePlan) (File, error) {
	edits := append(identityEdits(st, se, in), set(tag.TransferSyntaxUID, src.transferSyntax))
	elems, err := applyEdits(src.elems, edits, dropped)
	if err != nil {
		return File{}, fmt.Errorf("derive %s from %s: %w", in.path, src.name, err)
	}
	size, err := writeFile(filepath.Join(outDir, filepath.FromSlash(in.path)), elems)
	if err != nil {
		return File{}, err
	}
	f := describe(st, se, in)
	f.Source = src.name
	f.Size = size
	f.SOPClassUID = src.sopClass
	f.Modality = src.modality
	f.NumberOfFrames = src.frames
	f.Rows, f.Columns = src.rows, src.cols
	f.BitsAllocated, f.SamplesPerPixel = src.bitsAllocated, src.samplesPerPixel
	f.TransferSyntax = src.transferSyntax
	return f, nil
}

// describe fills the manifest fields known from the plan.
func describe(st *studyPlan, se *seriesPlan, in *instancePlan) File {
	p := st.patient
	return File{
		Path:              in.path,
		StudyUID:          st.uid,
		SeriesUID:         se.uid,
		SOPUID:            in.uid,
		PatientID:         p.id,
		IssuerOfPatientID: p.hosp.issuer,
		PatientName:       p.pn(),
		CharacterSet:      charsetFor(p.style),
		StudyDate:         st.when.Format(daFormat),
		AccessionNumber:   st.accession,
		InstitutionName:   p.hosp.name(st.zh()),
		SeriesNumber:      se.number,
		InstanceNumber:    in.number,
	}
}
