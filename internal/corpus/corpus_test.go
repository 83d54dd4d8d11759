package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// testToday anchors test corpora.
func testToday() time.Time { return time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC) }

// smallOptions is the corpus the tests generate.
func smallOptions() Options {
	return Options{Studies: 6, SeriesPerStudy: 2, InstancesPerSeries: 2, Big: 2, Seed: 42, Today: testToday()}
}

// TestGenerate generates one corpus and checks it in subtests.
func TestGenerate(t *testing.T) {
	m, err := Generate(t.TempDir(), smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Deterministic", func(t *testing.T) { checkDeterministic(t, m) })
	t.Run("Shape", func(t *testing.T) { checkShape(t, m) })
	t.Run("Files", func(t *testing.T) { checkFiles(t, m) })
	t.Run("PixelsDecode", func(t *testing.T) { checkPixelsDecode(t, m) })
	t.Run("ManifestFile", func(t *testing.T) { checkManifestFile(t, m) })
}

func parse(t *testing.T, path string) dicom.Dataset {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return ds
}

func str(t *testing.T, ds dicom.Dataset, tg tag.Tag) string {
	t.Helper()
	v, err := stringValue(ds, tg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return v
}

func pixelBytes(t *testing.T, ds dicom.Dataset) []byte {
	t.Helper()
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	info := dicom.MustGetPixelDataInfo(e.Value)
	if !info.IntentionallyUnprocessed {
		t.Fatal("pixel data was processed")
	}
	return info.UnprocessedValueData
}

func checkDeterministic(t *testing.T, m *Manifest) {
	other := t.TempDir()
	m2, err := Generate(other, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Files) != len(m.Files) {
		t.Fatalf("%d files vs %d", len(m2.Files), len(m.Files))
	}
	for _, name := range append(filePaths(m), ManifestName) {
		a, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(other, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	// A different seed gives different identities.
	opt := smallOptions()
	opt.Seed = 43
	opt.Big = 0
	opt.Studies = 1
	m3, err := Generate(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.BySOP(m3.Files[0].SOPUID); ok {
		t.Error("seed 43 reused a SOP UID of seed 42")
	}
}

func filePaths(m *Manifest) []string {
	var out []string
	for _, f := range m.Files {
		out = append(out, filepath.FromSlash(f.Path))
	}
	return out
}

func checkShape(t *testing.T, m *Manifest) {
	if got := len(m.Files); got != 6*2*2 {
		t.Fatalf("got %d files, want 24", got)
	}
	studies := m.Studies()
	if len(studies) != 6 {
		t.Fatalf("got %d studies", len(studies))
	}
	var bigAt []int
	for i, s := range studies {
		if len(s.Series) != 2 {
			t.Errorf("study %d has %d series", i, len(s.Series))
		}
		for _, se := range s.Series {
			if len(se.Files) != 2 {
				t.Errorf("series %s has %d files", se.SeriesUID, len(se.Files))
			}
		}
		switch s.Series[0].Modality {
		case "CR", "CT":
			bigAt = append(bigAt, i)
		}
	}
	if len(bigAt) != 2 || bigAt[0] == 0 && bigAt[1] == 1 {
		t.Errorf("big studies at %v, want 2 spread out", bigAt)
	}
	patients := m.Patients()
	if len(patients) != 4 {
		t.Errorf("got %d patients for 6 studies, want 4", len(patients))
	}
	studiesOf := map[string]int{}
	nameOf := map[string]string{}
	for _, s := range studies {
		studiesOf[s.PatientID]++
		if n, ok := nameOf[s.PatientID]; ok && n != s.PatientName {
			t.Errorf("patient %s named %q and %q", s.PatientID, n, s.PatientName)
		}
		nameOf[s.PatientID] = s.PatientName
		if !strings.HasPrefix(s.PatientID, "PID10000") {
			t.Errorf("PatientID %q", s.PatientID)
		}
		d, err := time.Parse(daFormat, s.StudyDate)
		if err != nil || !d.Before(testToday()) || d.Before(testToday().AddDate(0, 0, -60)) {
			t.Errorf("StudyDate %s not within 60 days before %s", s.StudyDate, testToday().Format(daFormat))
		}
		if len(s.AccessionNumber) > 16 || s.AccessionNumber == "" {
			t.Errorf("AccessionNumber %q", s.AccessionNumber)
		}
	}
	reused := false
	for _, n := range studiesOf {
		reused = reused || n > 1
	}
	if !reused {
		t.Error("no patient has more than one study")
	}
	if _, ok := m.Study(studies[3].StudyUID); !ok {
		t.Error("Study lookup failed")
	}
	if len(studies[3].Files()) != 4 {
		t.Error("Study.Files length")
	}
}

func checkFiles(t *testing.T, m *Manifest) {
	srcDir, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	srcPixels := map[string][]byte{}
	seen := map[string]string{}
	seriesFoR := map[string]string{}
	styles := map[string]bool{}
	for _, f := range m.Files {
		path := m.Abs(f)
		ds := parse(t, path)

		if got := str(t, ds, tag.MediaStorageSOPInstanceUID); got != f.SOPUID {
			t.Errorf("%s: MediaStorageSOPInstanceUID %s != %s", f.Path, got, f.SOPUID)
		}
		checks := map[tag.Tag]string{
			tag.SOPInstanceUID:          f.SOPUID,
			tag.StudyInstanceUID:        f.StudyUID,
			tag.SeriesInstanceUID:       f.SeriesUID,
			tag.SOPClassUID:             f.SOPClassUID,
			tag.MediaStorageSOPClassUID: f.SOPClassUID,
			tag.Modality:                f.Modality,
			tag.PatientID:               f.PatientID,
			tag.IssuerOfPatientID:       f.IssuerOfPatientID,
			tag.PatientName:             f.PatientName,
			tag.SpecificCharacterSet:    f.CharacterSet,
			tag.StudyDate:               f.StudyDate,
			tag.AccessionNumber:         f.AccessionNumber,
			tag.InstitutionName:         f.InstitutionName,
			tag.TransferSyntaxUID:       f.TransferSyntax,
		}
		for tg, want := range checks {
			if got := str(t, ds, tg); got != want {
				t.Errorf("%s: %v = %q, manifest says %q", f.Path, tg, got, want)
			}
		}
		ints := map[tag.Tag]int{tag.Rows: f.Rows, tag.Columns: f.Columns, tag.BitsAllocated: f.BitsAllocated, tag.SamplesPerPixel: f.SamplesPerPixel}
		for tg, want := range ints {
			if got, err := intValue(ds, tg); err != nil || got != want {
				t.Errorf("%s: %v = %d (%v), manifest says %d", f.Path, tg, got, err, want)
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != f.Size {
			t.Errorf("%s: size %v, manifest says %d", f.Path, fi, f.Size)
		}
		if len(f.InstitutionName) > 64 && !strings.ContainsFunc(f.InstitutionName, isHan) {
			t.Errorf("InstitutionName %q longer than 64", f.InstitutionName)
		}

		for _, u := range []string{f.SOPUID, f.SeriesUID, f.StudyUID} {
			if !ValidUID(u) || !strings.HasPrefix(u, "2.25.") {
				t.Errorf("%s: invalid UID %q", f.Path, u)
			}
		}
		if prev, dup := seen[f.SOPUID]; dup {
			t.Errorf("SOP UID %s used by %s and %s", f.SOPUID, prev, f.Path)
		}
		seen[f.SOPUID] = f.Path
		if e, err := ds.FindElementByTag(tag.FrameOfReferenceUID); err == nil {
			u := dicom.MustGetStrings(e.Value)[0]
			if !ValidUID(u) || !strings.HasPrefix(u, "2.25.") {
				t.Errorf("%s: FrameOfReferenceUID %q", f.Path, u)
			}
			if prev, ok := seriesFoR[f.SeriesUID]; ok && prev != u {
				t.Errorf("%s: FrameOfReferenceUID differs within series", f.Path)
			}
			seriesFoR[f.SeriesUID] = u
		}

		// Pixel data byte for byte identical to the source.
		want, ok := srcPixels[f.Source]
		if !ok {
			want = pixelBytes(t, parse(t, filepath.Join(srcDir, f.Source)))
			srcPixels[f.Source] = want
		}
		if !bytes.Equal(pixelBytes(t, ds), want) {
			t.Errorf("%s: pixel data differs from %s", f.Path, f.Source)
		}

		// Sorted by tag, nothing dropped left over.
		for i, e := range ds.Elements {
			if i > 0 {
				p := ds.Elements[i-1].Tag
				if p.Group > e.Tag.Group || p.Group == e.Tag.Group && p.Element >= e.Tag.Element {
					t.Errorf("%s: %v after %v", f.Path, e.Tag, p)
				}
			}
			if e.Tag.Group != 2 && dropped(e.Tag) {
				t.Errorf("%s: dropped attribute %v present", f.Path, e.Tag)
			}
		}

		switch {
		case f.CharacterSet == "ISO_IR 100":
			styles["romanized"] = true
			if f.PatientName != strings.ToUpper(f.PatientName) || strings.ContainsFunc(f.PatientName, isHan) {
				t.Errorf("%s: ISO_IR 100 name %q", f.Path, f.PatientName)
			}
		case strings.Contains(f.PatientName, "="):
			styles["both"] = true
			if !strings.ContainsFunc(f.PatientName, isHan) || !strings.ContainsFunc(f.InstitutionName, isHan) {
				t.Errorf("%s: UTF-8 name %q institution %q", f.Path, f.PatientName, f.InstitutionName)
			}
		default:
			styles["han"] = true
			if !strings.ContainsFunc(f.PatientName, isHan) || strings.Contains(f.PatientName, "^") {
				t.Errorf("%s: UTF-8 name %q", f.Path, f.PatientName)
			}
		}
		if f.Source == "6.dcm" && f.TransferSyntax != uid.ExplicitVRLittleEndian {
			t.Errorf("%s: deflated source written as %s", f.Path, f.TransferSyntax)
		}
	}
	if len(styles) != 3 {
		t.Errorf("name styles seen: %v, want all three", styles)
	}
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func checkPixelsDecode(t *testing.T, m *Manifest) {
	done := map[string]bool{}
	for _, f := range m.Files {
		if done[f.Source] {
			continue
		}
		done[f.Source] = true
		ds, err := dicom.ParseFile(m.Abs(f), nil)
		if err != nil {
			t.Fatalf("%s (from %s): %v", f.Path, f.Source, err)
		}
		e, err := ds.FindElementByTag(tag.PixelData)
		if err != nil {
			t.Fatal(err)
		}
		info := dicom.MustGetPixelDataInfo(e.Value)
		if len(info.Frames) != f.NumberOfFrames {
			t.Errorf("%s: %d frames, manifest says %d", f.Path, len(info.Frames), f.NumberOfFrames)
		}
		img := info.Frames[0].NativeData
		if img.Rows() != f.Rows || img.Cols() != f.Columns {
			t.Errorf("%s: frame %dx%d, manifest says %dx%d", f.Path, img.Rows(), img.Cols(), f.Rows, f.Columns)
		}
	}
	if len(done) < 5 {
		t.Errorf("only sources %v used", done)
	}
}

func checkManifestFile(t *testing.T, m *Manifest) {
	back, err := ReadManifest(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Files) != len(m.Files) {
		t.Fatal("manifest.json file count differs")
	}
	for i := range back.Files {
		if back.Files[i] != m.Files[i] {
			t.Errorf("manifest.json entry %d = %+v, want %+v", i, back.Files[i], m.Files[i])
		}
	}
	if m.TotalSize() <= 0 {
		t.Error("TotalSize")
	}
}

func TestValidUID(t *testing.T) {
	good := []string{"1.2.840.10008.1.2", "2.25.0", "2.25.329800735698586629295641978511506172918"}
	bad := []string{"", "1..2", "1.02", ".1", "1.", "1.2a", strings.Repeat("1.", 32) + "1"}
	for _, s := range good {
		if !ValidUID(s) {
			t.Errorf("ValidUID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidUID(s) {
			t.Errorf("ValidUID(%q) = true", s)
		}
	}
	r := newRand(1)
	for i := 0; i < 1000; i++ {
		if u := newUID(r); !ValidUID(u) {
			t.Fatalf("newUID gave %q", u)
		}
	}
}

func TestBigPositions(t *testing.T) {
	at := bigPositions(6, 2)
	if !at[1] || !at[4] {
		t.Errorf("bigPositions(6,2) = %v", at)
	}
	n := 0
	for _, b := range bigPositions(5, 9) {
		if b {
			n++
		}
	}
	if n != 5 {
		t.Errorf("bigPositions(5,9) marks %d", n)
	}
}
