package dcm

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func dirFixture() DirStudy {
	in := func(se, i int, sop string) DirInstance {
		return DirInstance{FileID: []string{"DICOM", "P0000001", "S000000" + string(rune('0'+se)), "I000000" + string(rune('0'+i))},
			SOPClass: "1.2.840.10008.5.1.4.1.1.2", SOP: sop, TransferSyntax: "1.2.840.10008.1.2.1", Number: i}
	}
	return DirStudy{PatientName: "Li^Lei=李^雷", PatientID: "P1", StudyUID: "1.2.3.4", StudyDate: "20261003",
		StudyTime: "101500", StudyID: "7", StudyDescription: "CT头颅平扫", AccessionNumber: "A1",
		Series: []DirSeries{
			{UID: "1.2.3.4.1", Modality: "CT", Number: 1, Instances: []DirInstance{in(1, 1, "1.2.3.4.1.1"), in(1, 2, "1.2.3.4.1.2")}},
			{UID: "1.2.3.4.2", Modality: "CT", Number: 2, Instances: []DirInstance{in(2, 1, "1.2.3.4.2.1")}},
		}}
}

func TestDICOMDIR(t *testing.T) {
	b, err := DICOMDIR("IMGCLOUD", dirFixture())
	if err != nil {
		t.Fatal(err)
	}
	if string(b[128:132]) != "DICM" || !bytes.Contains(b[:300], []byte(MediaStorageDirectoryStorage)) {
		t.Fatal("not a Media Storage Directory Part 10 file")
	}
	// Every offset in the file (first and last root record, next and
	// lower-level records) points at an item tag.
	for _, tag := range [][]byte{{4, 0, 0, 0x12}, {4, 0, 2, 0x12}, {4, 0, 0, 0x14}, {4, 0, 0x20, 0x14}} {
		for i := 0; ; {
			j := bytes.Index(b[i:], append(tag, 'U', 'L', 4, 0))
			if j < 0 {
				break
			}
			i += j + 8
			if off := binary.LittleEndian.Uint32(b[i:]); off != 0 && binary.LittleEndian.Uint32(b[off:]) != 0xE000FFFE {
				t.Errorf("offset %d of (%x) is not an item", off, tag)
			}
		}
	}
	for name, bad := range map[string]func(*DirStudy){
		"long component":  func(s *DirStudy) { s.Series[0].Instances[0].FileID[1] = "P00000001" },
		"lower case":      func(s *DirStudy) { s.Series[0].Instances[0].FileID[0] = "dicom" },
		"nine components": func(s *DirStudy) { s.Series[0].Instances[0].FileID = strings.Split("A/B/C/D/E/F/G/H/I", "/") },
		"bad study UID":   func(s *DirStudy) { s.StudyUID = "1.2.x" },
		"no series":       func(s *DirStudy) { s.Series = nil },
		"empty series":    func(s *DirStudy) { s.Series[1].Instances = nil },
	} {
		st := dirFixture()
		bad(&st)
		if _, err := DICOMDIR("IMGCLOUD", st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := exec.LookPath("dcmdump"); err != nil {
		t.Skip("DCMTK not installed")
	}
	p := filepath.Join(t.TempDir(), "DICOMDIR")
	os.WriteFile(p, b, 0o644)
	out, err := exec.Command("dcmdump", p).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("W: ")) || bytes.Contains(out, []byte("E: ")) {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	for _, w := range []string{`refFileID="DICOM\P0000001\S0000002\I0000001"`, "[CT头颅平扫]", "[ISO_IR 192]", "CS [SERIES]"} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("dcmdump lacks %s:\n%s", w, out)
		}
	}
}
