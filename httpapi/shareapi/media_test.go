package shareapi_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkMediaZip checks the study zip of e.a as a PS3.10 file set: the
// DICOMDIR's records and offsets (walked by hand here, and by DCMTK when
// installed), every referenced file present and equal to the stored file,
// File IDs of 8-character upper-case components, the readme and the name.
func checkMediaZip(t *testing.T, e *env, resp *http.Response, zr *zip.Reader) {
	t.Helper()
	files := e.a.Files()
	if len(zr.File) != len(files)+2 {
		t.Fatalf("zip holds %d files, want %d and DICOMDIR and README.TXT", len(zr.File), len(files))
	}
	dir := t.TempDir()
	comp := regexp.MustCompile(`^[A-Z0-9_]{1,8}$`)
	for _, f := range zr.File {
		for _, c := range strings.Split(f.Name, "/") {
			if !comp.MatchString(c) && f.Name != "README.TXT" {
				t.Errorf("zip entry %q: component %q is not a PS3.10 file ID component", f.Name, c)
			}
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f.Name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dd, err := os.ReadFile(filepath.Join(dir, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dd[:300], []byte("1.2.840.10008.1.3.10")) || string(dd[128:132]) != "DICM" {
		t.Fatal("DICOMDIR is not a Media Storage Directory Part 10 file")
	}
	types, refs := walkDICOMDIR(t, dd)
	if got := strings.Join(types, " "); got != "PATIENT STUDY SERIES"+strings.Repeat(" IMAGE", len(files)) {
		t.Errorf("records by the offsets: %s", got)
	}
	want := map[string][]byte{} // SOP Instance UID -> the file sent
	for _, f := range files {
		want[f.SOPUID], _ = os.ReadFile(e.man.Abs(f))
	}
	for _, r := range refs {
		got, err := os.ReadFile(filepath.Join(dir, filepath.Join(strings.Split(r.file, `\`)...)))
		if err != nil {
			t.Errorf("referenced file %s: %v", r.file, err)
			continue
		}
		w := want[r.sop]
		// The gateway zeroes a non-zero preamble; the rest is as sent.
		if w == nil || len(got) != len(w) || !bytes.Equal(got[128:], w[128:]) {
			t.Errorf("%s (%s) differs from the stored file", r.file, r.sop)
		}
		delete(want, r.sop)
	}
	if len(want) != 0 {
		t.Errorf("instances without an IMAGE record: %d", len(want))
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.TXT"))
	for _, w := range []string{"DICOMDIR", "检查", "Exam:", "Hospital:", e.a.StudyDate[:4] + "-"} {
		if !strings.Contains(string(readme), w) {
			t.Errorf("README.TXT lacks %q:\n%s", w, readme)
		}
	}
	cd := resp.Header.Get("Content-Disposition")
	_, star, _ := strings.Cut(cd, "filename*=UTF-8''")
	name, err := url.PathUnescape(star)
	if err != nil || !strings.HasPrefix(name, e.a.StudyDate+"_") || !strings.HasSuffix(name, ".zip") ||
		!strings.Contains(cd, `filename="`+e.a.StudyDate+"_") {
		t.Errorf("Content-Disposition %q (name %q)", cd, name)
	}

	// DCMTK reads it, and dcmmkdir, updating it with the same files,
	// finds it consistent.
	if _, err := exec.LookPath("dcmdump"); err != nil {
		t.Log("DCMTK not installed: DICOMDIR checked by hand only")
		return
	}
	out, err := exec.Command("dcmdump", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if err != nil || bytes.Count(out, []byte("CS [IMAGE]")) != len(files) || bytes.Contains(out, []byte("W: ")) || bytes.Contains(out, []byte("E: ")) {
		t.Errorf("dcmdump DICOMDIR: %v\n%s", err, out)
	}
	// dcmmkdir reads the DICOMDIR (a bad offset is a warning), checks the
	// files against the General Purpose CD profile and merges them into
	// the records it found: none is added twice.
	args := []string{"-Pgp", "+U", "-Nxc", "+id", dir, "+D", filepath.Join(dir, "DICOMDIR"), "+r", "DICOM"}
	cmd := exec.Command("dcmmkdir", args...)
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("W: ")) || bytes.Contains(out, []byte("E: ")) {
		t.Errorf("dcmmkdir %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	out, _ = exec.Command("dcmdump", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	series := map[string]bool{}
	for _, f := range files {
		series[f.SeriesUID] = true
	}
	for typ, n := range map[string]int{"PATIENT": 1, "STUDY": 1, "SERIES": len(series), "IMAGE": len(files)} {
		if got := bytes.Count(out, []byte("CS ["+typ+"]")); got != n {
			t.Errorf("after dcmmkdir's update: %d %s records, want %d", got, typ, n)
		}
	}
}

type dirRef struct{ file, sop string }

// walkDICOMDIR follows the DICOMDIR's offsets from the root (first record,
// then lower-level and next records, depth first) and returns the record
// types met and the IMAGE records' files.
func walkDICOMDIR(t *testing.T, b []byte) ([]string, []dirRef) {
	t.Helper()
	// The records are explicit VR LE items; read an item's elements.
	item := func(off uint32) map[uint32][]byte {
		if int(off)+8 > len(b) || binary.LittleEndian.Uint32(b[off:]) != 0xE000FFFE {
			t.Fatalf("offset %d is not an item", off)
		}
		n := binary.LittleEndian.Uint32(b[off+4:])
		m := map[uint32][]byte{}
		for p := off + 8; p < off+8+n; {
			tag := uint32(binary.LittleEndian.Uint16(b[p:]))<<16 | uint32(binary.LittleEndian.Uint16(b[p+2:]))
			vr := string(b[p+4 : p+6])
			var l, h uint32 = uint32(binary.LittleEndian.Uint16(b[p+6:])), 8
			if vr == "SQ" || vr == "OB" || vr == "UN" {
				l, h = binary.LittleEndian.Uint32(b[p+8:]), 12
			}
			m[tag] = b[p+h : p+h+l]
			p += h + l
		}
		return m
	}
	// The root offset: (0004,1200) in the data set after the meta group.
	i := bytes.Index(b, []byte{0x04, 0x00, 0x00, 0x12, 'U', 'L', 4, 0})
	if i < 0 {
		t.Fatal("no (0004,1200)")
	}
	var types []string
	var refs []dirRef
	var walk func(off uint32, depth int)
	walk = func(off uint32, depth int) {
		for off != 0 && depth < 5 {
			r := item(off)
			typ := strings.TrimSpace(string(r[0x00041430]))
			types = append(types, typ)
			if typ == "IMAGE" {
				refs = append(refs, dirRef{strings.TrimSpace(string(r[0x00041500])), strings.TrimRight(string(r[0x00041511]), "\x00")})
			}
			walk(binary.LittleEndian.Uint32(r[0x00041420]), depth+1)
			off = binary.LittleEndian.Uint32(r[0x00041400])
		}
	}
	walk(binary.LittleEndian.Uint32(b[i+8:]), 0)
	return types, refs
}
