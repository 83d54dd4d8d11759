package demo

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/render"
)

var today = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// files returns the demo of today, parsed.
func files(t *testing.T) ([]File, []*dcm.Header) {
	t.Helper()
	fs, err := Files(today)
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]*dcm.Header, len(fs))
	for i, f := range fs {
		h, err := dcm.ReadHeader(bytes.NewReader(f.Data), int64(len(f.Data)), dcm.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		hs[i] = h
	}
	return fs, hs
}

// TestIdentitiesMatchCorpus proves the demo keeps the identities of the
// demo earlier versions derived with internal/corpus: same files, UIDs,
// patients, names, character sets, hospitals, issuers, dates, accession
// numbers and modalities.
func TestIdentitiesMatchCorpus(t *testing.T) {
	man, err := corpus.Generate(t.TempDir(), corpus.Options{
		Studies: demoStudies, SeriesPerStudy: demoSeries, InstancesPerSeries: demoInstances, Big: demoBig, Seed: demoSeed, Today: today,
	})
	if err != nil {
		t.Fatal(err)
	}
	fs, hs := files(t)
	if len(fs) != len(man.Files) {
		t.Fatalf("%d files, corpus made %d", len(fs), len(man.Files))
	}
	for i, want := range man.Files {
		f, ds := fs[i], hs[i].Dataset
		got := corpus.File{
			Path: f.Path, StudyUID: f.StudyUID, SeriesUID: f.SeriesUID, SOPUID: f.SOPUID, Modality: ds.String("00080060"),
			PatientID: ds.String("00100020"), IssuerOfPatientID: ds.String("00100021"), PatientName: rawPN(f.Data, want.PatientName),
			CharacterSet: ds.String("00080005"), StudyDate: ds.String("00080020"), AccessionNumber: ds.String("00080050"),
			InstitutionName: ds.String("00080080"), SeriesNumber: atoi(ds.String("00200011")), InstanceNumber: atoi(ds.String("00200013")),
		}
		want.Source, want.Size, want.SOPClassUID, want.NumberOfFrames, want.Rows, want.Columns = "", 0, "", 0, 0, 0
		want.BitsAllocated, want.SamplesPerPixel, want.TransferSyntax = 0, 0, ""
		if got != want {
			t.Errorf("file %d:\n got %+v\nwant %+v", i, got, want)
		}
		if h := hs[i]; h.StudyUID != f.StudyUID || h.SOPUID != f.SOPUID || h.SeriesUID != f.SeriesUID {
			t.Errorf("%s: header UIDs %s %s %s", f.Path, h.StudyUID, h.SeriesUID, h.SOPUID)
		}
	}
}

// rawPN returns want when the file holds it byte for byte as PatientName.
func rawPN(data []byte, want string) string {
	if bytes.Contains(data, append([]byte{0x10, 0, 0x10, 0, 'P', 'N'}, byte(len(want)+len(want)%2), 0)) &&
		bytes.Contains(data, []byte(want)) {
		return want
	}
	return "(not as corpus wrote it)"
}

// TestStudiesAgree checks what a radiologist would: sex, body part,
// descriptions and modality fit together, and each kind is there.
func TestStudiesAgree(t *testing.T) {
	_, hs := files(t)
	kinds := map[string]bool{}
	for _, h := range hs {
		ds := h.Dataset
		mod, part, sex := ds.String("00080060"), ds.String("00180015"), ds.String("00100040")
		desc := ds.String("00081030") + " " + ds.String("0008103E")
		kinds[mod+"/"+part] = true
		switch {
		case part == "PROSTATE" && sex != "M":
			t.Errorf("prostate MR of a patient of sex %s", sex)
		case strings.Contains(desc, "灌注") || strings.Contains(strings.ToLower(desc), "perfusion"):
			t.Errorf("perfusion series in a plain study: %s", desc)
		case mod == "PT" && part != "WHOLEBODY":
			t.Errorf("PET of %s", part)
		}
		if mod == "CR" && (ds.String("00200011") == "2") != (ds.String("00185101") == "LL") {
			t.Errorf("chest %q with ViewPosition %s", desc, ds.String("00185101"))
		}
	}
	for _, k := range []string{"PT/WHOLEBODY", "MR/HEAD", "OT/", "CR/CHEST", "CT/HEAD"} {
		if !kinds[k] {
			t.Errorf("no %s study (have %v)", k, kinds)
		}
	}
}

// TestImagesFit renders a frame of every instance with its own window and
// checks it is neither blank nor saturated, and that CT values are HU.
func TestImagesFit(t *testing.T) {
	fs, hs := files(t)
	multi, eight, sixteen := false, false, false
	for i, h := range hs {
		f := fs[i]
		p, err := render.ParamsFrom(h.Dataset)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if len(h.Frames.Frames) > 1 {
			multi = true
		}
		if p.BitsAllocated == 8 {
			eight = true
		} else {
			sixteen = true
		}
		r := h.Frames.Frames[0][0]
		frame := f.Data[r.Offset : r.Offset+r.Length]
		if h.Dataset.String("00080060") == "CT" {
			lo, hi := math.Inf(1), math.Inf(-1)
			for j := 0; j < len(frame); j += 2 {
				hu := float64(int16(binary.LittleEndian.Uint16(frame[j:]))) + p.RescaleIntercept
				lo, hi = math.Min(lo, hu), math.Max(hi, hu)
			}
			if lo > -990 || lo < -1100 || hi < 900 || hi > 1200 {
				t.Errorf("%s: HU from %.0f to %.0f, want air to bone", f.Path, lo, hi)
			}
		}
		img, _, err := render.Frame(p, h.TransferSyntax, frame, render.Options{})
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		var dark, bright, n int
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 2 {
			for x := b.Min.X; x < b.Max.X; x += 2 {
				v, _, _, _ := img.At(x, y).RGBA()
				switch {
				case v < 0x0800:
					dark++
				case v > 0xF800:
					bright++
				}
				n++
			}
		}
		if dark > n*95/100 || bright > n/2 {
			t.Errorf("%s (%s): %d%% black, %d%% white in its window", f.Path, h.Dataset.String("00080060"), dark*100/n, bright*100/n)
		}
	}
	if !multi || !eight || !sixteen {
		t.Errorf("multi-frame %v, 8-bit %v, 16-bit %v: want all", multi, eight, sixteen)
	}
}

// TestDCMTKReadsDemo has DCMTK's dcm2json read every file: a third-party
// reader accepts the project's writer.
func TestDCMTKReadsDemo(t *testing.T) {
	dcmtktest.Tool(t, "dcm2json")
	dir := t.TempDir()
	fs, err := WriteDir(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		js := dcmtktest.JSON(t, filepath.Join(dir, filepath.FromSlash(f.Path)))
		uid, _ := js["00080018"].(map[string]any)["Value"].([]any)
		if len(uid) != 1 || uid[0] != f.SOPUID {
			t.Errorf("%s: DCMTK reads SOPInstanceUID %v", f.Path, uid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(fs[0].Path))); err != nil {
		t.Fatal(err)
	}
}

// TestReproducible: the same day gives the same bytes.
func BenchmarkFiles(b *testing.B) {
	for b.Loop() {
		if _, err := Files(today); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReproducible(t *testing.T) {
	a, _ := Files(today)
	b, _ := Files(today)
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("%s differs between runs", a[i].Path)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
