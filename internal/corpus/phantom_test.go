package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

func TestPhantom(t *testing.T) {
	dir := t.TempDir()
	opt := PhantomOptions{Studies: 4, Slices: 5, Seed: 7, Today: testToday()}
	m, err := Phantom(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	// CT 5 slices, DX 1, US 2, CT 5 again.
	if len(m.Files) != 13 {
		t.Fatalf("got %d files, want 13", len(m.Files))
	}
	want := map[string][4]int{ // rows, cols, bits, samples
		"CT": {256, 256, 16, 1},
		"DX": {512, 512, 16, 1},
		"US": {300, 400, 8, 3},
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		ds, err := dicom.ParseFile(m.Abs(f), nil)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if got := str(t, ds, tag.TransferSyntaxUID); got != uid.ExplicitVRLittleEndian {
			t.Errorf("%s: transfer syntax %s", f.Path, got)
		}
		if got := str(t, ds, tag.MediaStorageSOPInstanceUID); got != f.SOPUID || str(t, ds, tag.SOPInstanceUID) != f.SOPUID {
			t.Errorf("%s: SOP UID mismatch", f.Path)
		}
		if got := str(t, ds, tag.PatientName); got != f.PatientName || !strings.ContainsFunc(got, isHan) {
			t.Errorf("%s: PatientName %q, manifest %q", f.Path, got, f.PatientName)
		}
		if got := str(t, ds, tag.SpecificCharacterSet); got != "ISO_IR 192" {
			t.Errorf("%s: charset %q", f.Path, got)
		}
		if got := str(t, ds, tag.Modality); got != f.Modality {
			t.Errorf("%s: modality %s, manifest %s", f.Path, got, f.Modality)
		}
		w, ok := want[f.Modality]
		if !ok {
			t.Fatalf("%s: unexpected modality %s", f.Path, f.Modality)
		}
		seen[f.Modality] = true
		if f.Rows != w[0] || f.Columns != w[1] || f.BitsAllocated != w[2] || f.SamplesPerPixel != w[3] {
			t.Errorf("%s: manifest geometry %+v", f.Path, f)
		}
		e, err := ds.FindElementByTag(tag.PixelData)
		if err != nil {
			t.Fatal(err)
		}
		info := dicom.MustGetPixelDataInfo(e.Value)
		if len(info.Frames) != 1 {
			t.Fatalf("%s: %d frames", f.Path, len(info.Frames))
		}
		img := info.Frames[0].NativeData
		if img.Rows() != w[0] || img.Cols() != w[1] || img.BitsPerSample() != w[2] || img.SamplesPerPixel() != w[3] {
			t.Errorf("%s: pixel data %dx%d %d bits %d samples", f.Path, img.Rows(), img.Cols(), img.BitsPerSample(), img.SamplesPerPixel())
		}
		if f.Modality == "CT" && f.InstanceNumber == 3 { // middle slice
			px := img.RawDataSlice().([]uint16)
			hu := func(r, c int) int { return int(int16(px[r*256+c])) - 1024 }
			if v := hu(0, 0); v < -1020 || v > -980 {
				t.Errorf("corner %d HU, want air", v)
			}
			if v := hu(128, 128); v < 15 || v > 55 {
				t.Errorf("centre %d HU, want brain", v)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("modalities %v", seen)
	}
	if m.TotalSize() > 3<<20 {
		t.Errorf("phantom corpus is %d bytes", m.TotalSize())
	}

	again := t.TempDir()
	if _, err := Phantom(again, opt); err != nil {
		t.Fatal(err)
	}
	for _, name := range append(filePaths(m), ManifestName) {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(again, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs (%v)", name, err)
		}
	}
}

func TestMain_Flags(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := Main([]string{"-out", dir, "-studies", "2", "-series", "1", "-instances", "2", "-big", "0", "-today", "20250101", "-q"}, &out, &errb)
	if err != nil {
		t.Fatal(err, errb.String())
	}
	if !strings.Contains(out.String(), "4 files, 2 studies") {
		t.Errorf("stdout %q", out.String())
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.StudyDate >= "20250101" || f.StudyDate < "20241101" {
			t.Errorf("StudyDate %s for -today 20250101", f.StudyDate)
		}
	}

	out.Reset()
	errb.Reset()
	if err := Main([]string{"-out", t.TempDir(), "-phantom", "-studies", "1", "-slices", "2"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 files") || !strings.Contains(errb.String(), "phantom") {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}

	if err := Main([]string{"-studies", "1"}, &out, &errb); err == nil {
		t.Error("missing -out accepted")
	}
	if err := Main([]string{"-out", dir, "-today", "2025-01-01"}, &out, &errb); err == nil {
		t.Error("bad -today accepted")
	}
	if err := Main([]string{"-out", dir, "-sources", t.TempDir()}, &out, &errb); err == nil {
		t.Error("empty -sources accepted")
	}
}
