package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ManifestName is the name of the manifest file written in the output dir.
const ManifestName = "manifest.json"

// File describes one generated DICOM file.
type File struct {
	Path              string `json:"path"` // relative to the output dir, slash separated
	Source            string `json:"source,omitempty"`
	StudyUID          string `json:"studyUID"`
	SeriesUID         string `json:"seriesUID"`
	SOPUID            string `json:"sopUID"`
	SOPClassUID       string `json:"sopClassUID"`
	Modality          string `json:"modality"`
	PatientID         string `json:"patientID"`
	IssuerOfPatientID string `json:"issuerOfPatientID"`
	PatientName       string `json:"patientName"` // raw PN string as written
	CharacterSet      string `json:"characterSet"`
	StudyDate         string `json:"studyDate"` // YYYYMMDD
	AccessionNumber   string `json:"accessionNumber"`
	InstitutionName   string `json:"institutionName"`
	SeriesNumber      int    `json:"seriesNumber"`
	InstanceNumber    int    `json:"instanceNumber"`
	Size              int64  `json:"size"`
	NumberOfFrames    int    `json:"numberOfFrames"`
	Rows              int    `json:"rows"`
	Columns           int    `json:"columns"`
	BitsAllocated     int    `json:"bitsAllocated"`
	SamplesPerPixel   int    `json:"samplesPerPixel"`
	TransferSyntax    string `json:"transferSyntax"`
}

// Manifest lists every generated file, in generation order.
type Manifest struct {
	// Dir is the output directory; it is not stored in manifest.json.
	Dir   string `json:"-"`
	Files []File `json:"files"`
}

// Study is a grouped view of the files of one study.
type Study struct {
	StudyUID        string
	PatientID       string
	PatientName     string
	StudyDate       string
	AccessionNumber string
	InstitutionName string
	Series          []Series
}

// Series is a grouped view of the files of one series.
type Series struct {
	SeriesUID    string
	Modality     string
	SeriesNumber int
	Files        []File
}

// Studies groups the files by study and series, in generation order.
func (m *Manifest) Studies() []Study {
	var out []Study
	studyAt := map[string]int{}
	seriesAt := map[string]int{}
	for _, f := range m.Files {
		si, ok := studyAt[f.StudyUID]
		if !ok {
			si = len(out)
			studyAt[f.StudyUID] = si
			out = append(out, Study{
				StudyUID: f.StudyUID, PatientID: f.PatientID, PatientName: f.PatientName,
				StudyDate: f.StudyDate, AccessionNumber: f.AccessionNumber, InstitutionName: f.InstitutionName,
			})
		}
		st := &out[si]
		ri, ok := seriesAt[f.SeriesUID]
		if !ok {
			ri = len(st.Series)
			seriesAt[f.SeriesUID] = ri
			st.Series = append(st.Series, Series{SeriesUID: f.SeriesUID, Modality: f.Modality, SeriesNumber: f.SeriesNumber})
		}
		st.Series[ri].Files = append(st.Series[ri].Files, f)
	}
	return out
}

// Files returns every file of the study, series after series.
func (s Study) Files() []File {
	var out []File
	for _, se := range s.Series {
		out = append(out, se.Files...)
	}
	return out
}

// BySOP returns the file with a SOPInstanceUID.
func (m *Manifest) BySOP(sopUID string) (File, bool) {
	for _, f := range m.Files {
		if f.SOPUID == sopUID {
			return f, true
		}
	}
	return File{}, false
}

// Study returns the grouped view of one study.
func (m *Manifest) Study(studyUID string) (Study, bool) {
	for _, s := range m.Studies() {
		if s.StudyUID == studyUID {
			return s, true
		}
	}
	return Study{}, false
}

// Patients returns the distinct patient IDs, in order of first appearance.
func (m *Manifest) Patients() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !seen[f.PatientID] {
			seen[f.PatientID] = true
			out = append(out, f.PatientID)
		}
	}
	return out
}

// TotalSize returns the sum of all file sizes in bytes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Abs returns the absolute path of a file of the manifest.
func (m *Manifest) Abs(f File) string {
	return filepath.Join(m.Dir, filepath.FromSlash(f.Path))
}

// Write stores the manifest as indented JSON at path.
func (m *Manifest) Write(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return nil
}

// ReadManifest loads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	m := &Manifest{Dir: dir}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return m, nil
}
