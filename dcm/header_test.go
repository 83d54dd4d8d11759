package dcm

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// realFiles describes the library's test files.
var realFiles = []struct {
	name     string
	ts       string
	frames   int
	deflated bool
	// compare frames byte for byte with the library's own full parse
	compareFrames bool
	patientName   string
}{
	{"1.dcm", ExplicitVRLittleEndian, 1, false, true, "ACRIN-FLT-Breast_029"},
	{"2.dcm", ExplicitVRLittleEndian, 1, false, true, "ACRIN-FLT-Breast_028"},
	{"3.dcm", ExplicitVRLittleEndian, 1, false, true, ""},
	{"4.dcm", ImplicitVRLittleEndian, 1, false, true, "COVID-19-AR-16406488"},
	{"5.dcm", ExplicitVRLittleEndian, 2, false, true, "Perfusion^MCA Stroke"},
	{"6.dcm", DeflatedExplicitVRLE, 1, true, true, ""},
}

func TestRealFiles(t *testing.T) {
	for _, rf := range realFiles {
		t.Run(rf.name, func(t *testing.T) {
			file := readReal(t, rf.name)
			h := mustRead(t, file)

			for name, uid := range map[string]string{"study": h.StudyUID, "series": h.SeriesUID, "sop": h.SOPUID, "class": h.SOPClassUID} {
				if !ValidUID(uid) {
					t.Errorf("%s UID %q is not valid", name, uid)
				}
			}
			if h.TransferSyntax != rf.ts {
				t.Errorf("TransferSyntax = %s, want %s", h.TransferSyntax, rf.ts)
			}
			if h.PreambleNonZero {
				t.Errorf("PreambleNonZero for a zero preamble")
			}
			nFrames := 1
			if n, ok := h.Dataset.Int("00280008"); ok {
				nFrames = n
			}
			if nFrames != rf.frames || len(h.Frames.Frames) != nFrames {
				t.Fatalf("NumberOfFrames %d, %d frame ranges; want %d", nFrames, len(h.Frames.Frames), rf.frames)
			}
			if h.Frames.Deflated != rf.deflated || h.Frames.Encapsulated {
				t.Errorf("Frames: Deflated=%v Encapsulated=%v", h.Frames.Deflated, h.Frames.Encapsulated)
			}

			// The stream the ranges point into.
			stream := file
			if rf.deflated {
				_, start := splitPart10(t, file)
				if h.Frames.DeflateStart != int64(start) {
					t.Errorf("DeflateStart = %d, want %d", h.Frames.DeflateStart, start)
				}
				inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(file[h.Frames.DeflateStart:])))
				if err != nil {
					t.Fatalf("inflating: %v", err)
				}
				stream = inflated
			}

			rows, _ := h.Dataset.Int("00280010")
			cols, _ := h.Dataset.Int("00280011")
			spp, _ := h.Dataset.Int("00280002")
			bits, _ := h.Dataset.Int("00280100")
			frameSize := int64(rows * cols * spp * bits / 8)
			frames := make([][]byte, nFrames)
			for i, f := range h.Frames.Frames {
				frames[i] = readRanges(t, stream, f)
				if int64(len(frames[i])) != frameSize {
					t.Errorf("frame %d has %d bytes, want %d", i, len(frames[i]), frameSize)
				}
			}
			if rf.compareFrames {
				lib := libraryFrames(t, realPath(t, rf.name))
				if len(lib) != nFrames {
					t.Fatalf("library parsed %d frames, want %d", len(lib), nFrames)
				}
				for i := range lib {
					if !bytes.Equal(frames[i], lib[i]) {
						t.Errorf("frame %d differs from the library's full parse", i)
					}
				}
			}

			checkBulk(t, h, stream)
			checkJSON(t, h, rf.patientName)
			checkGolden(t, h, rf.name)
		})
	}
}

// readRanges concatenates the bytes of rs in stream.
func readRanges(t testing.TB, stream []byte, rs []Range) []byte {
	t.Helper()
	var out []byte
	for _, r := range rs {
		if r.Offset < 0 || r.Length < 0 || r.Offset+r.Length > int64(len(stream)) {
			t.Fatalf("range %+v outside the %d-byte stream", r, len(stream))
		}
		out = append(out, stream[r.Offset:r.Offset+r.Length]...)
	}
	return out
}

// libraryFrames parses path fully with the library and returns each native
// frame as little endian bytes.
func libraryFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatalf("library parse: %v", err)
	}
	pe, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatalf("library: %v", err)
	}
	var out [][]byte
	for _, f := range dicom.MustGetPixelDataInfo(pe.Value).Frames {
		nf, err := f.GetNativeFrame()
		if err != nil {
			t.Fatalf("library frame: %v", err)
		}
		var b []byte
		switch raw := nf.RawDataSlice().(type) {
		case []uint8:
			b = raw
		case []uint16:
			for _, v := range raw {
				b = binary.LittleEndian.AppendUint16(b, v)
			}
		case []uint32:
			for _, v := range raw {
				b = binary.LittleEndian.AppendUint32(b, v)
			}
		default:
			t.Fatalf("library frame type %T", raw)
		}
		out = append(out, b)
	}
	return out
}

// checkBulk checks that every BulkDataURI has a BulkRef and that each
// BulkRef is the value of an element with the right tag and length.
func checkBulk(t *testing.T, h *Header, stream []byte) {
	t.Helper()
	refs := map[string]Range{}
	for _, b := range h.Bulk {
		if _, dup := refs[b.Path]; dup {
			t.Errorf("bulk path %s listed twice", b.Path)
		}
		refs[b.Path] = b.Range
		r := b.Range
		if r.Offset < 12 || r.Offset+r.Length > int64(len(stream)) {
			t.Errorf("bulk %s range %+v outside the stream", b.Path, r)
			continue
		}
		want, _ := parseTagKey(b.Path[len(b.Path)-8:])
		// Explicit VR little endian: 12-byte header; implicit: 8 bytes.
		var got uint32
		var n uint32
		if h.TransferSyntax == ImplicitVRLittleEndian {
			hdr := stream[r.Offset-8:]
			got = uint32(binary.LittleEndian.Uint16(hdr))<<16 | uint32(binary.LittleEndian.Uint16(hdr[2:]))
			n = binary.LittleEndian.Uint32(hdr[4:])
		} else {
			hdr := stream[r.Offset-12:]
			got = uint32(binary.LittleEndian.Uint16(hdr))<<16 | uint32(binary.LittleEndian.Uint16(hdr[2:]))
			n = binary.LittleEndian.Uint32(hdr[8:])
		}
		if got != want {
			t.Errorf("bulk %s: the header before the range has tag %s", b.Path, tagString(got))
		}
		if n != undefinedLength && int64(n) != r.Length {
			t.Errorf("bulk %s: header declares %d bytes, range has %d", b.Path, n, r.Length)
		}
	}
	uris := 0
	h.Dataset.WalkBulk(func(e *Element) {
		uris++
		if _, ok := refs[e.BulkDataURI]; !ok {
			t.Errorf("BulkDataURI %s has no BulkRef", e.BulkDataURI)
		}
	})
	if uris != len(h.Bulk) {
		t.Errorf("%d BulkDataURIs, %d BulkRefs", uris, len(h.Bulk))
	}
}

// checkJSON marshals the data set and checks PatientName and PixelData.
func checkJSON(t *testing.T, h *Header, patientName string) {
	t.Helper()
	b, err := json.Marshal(h.Dataset)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m map[string]struct {
		VR          string
		Value       []any
		BulkDataURI string
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	pn, ok := m["00100010"]
	if !ok || pn.VR != "PN" {
		t.Errorf("PatientName missing or not PN: %+v", pn)
	}
	if patientName != "" {
		obj, ok := pn.Value[0].(map[string]any)
		if !ok || obj["Alphabetic"] != patientName {
			t.Errorf("PatientName = %#v, want object with Alphabetic %q", pn.Value, patientName)
		}
		if got := h.Dataset.String("00100010"); got != patientName {
			t.Errorf("String(PatientName) = %q", got)
		}
	}
	if px := m["7FE00010"]; px.BulkDataURI != "7FE00010" || len(px.Value) != 0 {
		t.Errorf("PixelData = %+v, want BulkDataURI 7FE00010", px)
	}
	for k := range m {
		if k[:4] == "0002" || k[4:] == "0000" {
			t.Errorf("JSON has %s (file meta or group length)", k)
		}
	}
	// The round trip through encoding/json gives the same data set.
	var back Dataset
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	b2, _ := json.Marshal(back)
	if !bytes.Equal(b, b2) {
		t.Errorf("JSON round trip changed the data set")
	}
}

// checkGolden compares the data set with DCMTK's dcm2json output for the
// same file (testdata/golden, binary values elided). dcm2json rewrites
// SpecificCharacterSet to ISO_IR 192, so that value is not compared.
func checkGolden(t *testing.T, h *Header, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name[:len(name)-4]+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	mine, _ := json.Marshal(h.Dataset)
	if err := json.Unmarshal(mine, &got); err != nil {
		t.Fatal(err)
	}
	compareJSON(t, "", got, want)
}

func compareJSON(t *testing.T, path string, got, want map[string]any) {
	t.Helper()
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s%s missing", path, k)
		}
	}
	for k, g := range got {
		w, ok := want[k]
		if !ok {
			t.Errorf("%s%s not in dcm2json's output", path, k)
			continue
		}
		ge, we := g.(map[string]any), w.(map[string]any)
		p := path + k
		if ge["vr"] != we["vr"] {
			t.Errorf("%s: vr %v, dcm2json %v", p, ge["vr"], we["vr"])
		}
		_, gBin := ge["InlineBinary"]
		_, gBulk := ge["BulkDataURI"]
		_, wBin := we["InlineBinary"]
		_, wBulk := we["BulkDataURI"]
		if gBin || gBulk || wBin || wBulk {
			if (gBin || gBulk) != (wBin || wBulk) {
				t.Errorf("%s: binary %v, dcm2json %v", p, ge, we)
			}
			continue
		}
		if k == "00080005" {
			continue
		}
		gv, _ := ge["Value"].([]any)
		wv, _ := we["Value"].([]any)
		if len(gv) != len(wv) {
			t.Errorf("%s: %d values %v, dcm2json %d %v", p, len(gv), gv, len(wv), wv)
			continue
		}
		for i := range gv {
			switch w := wv[i].(type) {
			case map[string]any:
				g, ok := gv[i].(map[string]any)
				if !ok {
					t.Errorf("%s[%d]: %v, dcm2json %v", p, i, gv[i], w)
				} else if ge["vr"] == "SQ" {
					compareJSON(t, fmt.Sprintf("%s/%d/", p, i), g, w)
				} else if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s[%d]: %v, dcm2json %v", p, i, g, w)
				}
			case float64:
				g, ok := gv[i].(float64)
				if !ok || math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
					t.Errorf("%s[%d]: %v, dcm2json %v", p, i, gv[i], w)
				}
			default:
				if gv[i] != w {
					t.Errorf("%s[%d]: %#v, dcm2json %#v", p, i, gv[i], w)
				}
			}
		}
	}
}
