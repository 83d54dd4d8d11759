package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// startStoreSCP runs DCMTK's storescp on a free loopback port, writing
// what it receives exactly as received (+B) into a new folder, with extra
// options (+xi: accept Implicit VR Little Endian only). It returns the
// port and the folder.
func startStoreSCP(t *testing.T, extra ...string) (port, dir string) {
	t.Helper()
	dir = t.TempDir()
	_, port, _ = net.SplitHostPort(freeAddr(t))
	cmd := exec.Command(dcmtktest.Tool(t, "storescp"), append(append([]string{"+B", "-od", dir}, extra...), port)...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return port, dir
		}
	}
	t.Fatalf("storescp did not listen on %s: %s", port, log.String())
	return "", ""
}

// received reads the file a DCMTK receiver wrote for an instance (its
// name ends with the SOP Instance UID).
func received(t *testing.T, dir, sop string) []byte {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+sop))
	if len(names) != 1 {
		all, _ := filepath.Glob(filepath.Join(dir, "*"))
		t.Fatalf("received files for %s: %v (all: %v)", sop, names, all)
	}
	b, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func countFiles(dir string) int {
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	return len(names)
}

// TestDICOMRetrieve runs C-MOVE, C-GET and C-FIND against a real gateway
// process with DCMTK and Orthanc as peers: movescu moving a study to
// storescp in the stored syntax (data sets byte for byte the stored ones)
// and an instance to a storescp that accepts only Implicit VR (byte for
// byte what dcmconv +ti -e makes of the stored file), movescu receiving
// itself (+P), getscu on the same association (STUDY and, Patient Root,
// PATIENT level); Orthanc C-MOVEing a study from the gateway into itself
// (its copies byte for byte the stored ones) and the gateway moving a
// series to Orthanc; findscu at PATIENT level with a GB18030 query file
// and at STUDY level with the recognition block; a move to an unknown
// destination (A801), a study of another institution (nothing sent, as
// for a study that does not exist, and audited with its UID), a
// store-only AE refused.
func TestDICOMRetrieve(t *testing.T) {
	dcmtktest.Tool(t, "movescu")
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 6, SeriesPerStudy: 2, InstancesPerSeries: 3, Big: 0, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var fahzu []corpus.File
	for _, f := range man.Files {
		if f.IssuerOfPatientID == "FAHZU" {
			fahzu = append(fahzu, f)
		}
	}
	if len(fahzu) < 6 {
		t.Fatalf("corpus has %d FAHZU files, want at least 6", len(fahzu))
	}
	study := fahzu[0].StudyUID
	var inStudy []corpus.File
	for _, f := range fahzu {
		if f.StudyUID == study {
			inStudy = append(inStudy, f)
		}
	}

	wsPort, wsDir := startStoreSCP(t)
	implPort, implDir := startStoreSCP(t, "+xi")
	_, selfPort, _ := net.SplitHostPort(freeAddr(t))
	_, orthancPort, _ := net.SplitHostPort(freeAddr(t))
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: FAHZUPACS, host: 127.0.0.1, port: 4243, institution: fahzu, allow: [store]}\n"+
		"- {aet: FAHZUWS, host: 127.0.0.1, port: "+wsPort+", institution: fahzu, allow: [query, retrieve]}\n"+
		"- {aet: FAHZUIMPL, host: 127.0.0.1, port: "+implPort+", institution: fahzu, allow: [retrieve]}\n"+
		"- {aet: FAHZUSELF, host: 127.0.0.1, port: "+selfPort+", institution: fahzu, allow: [retrieve]}\n"+
		"- {aet: PUMCHWS, host: 127.0.0.1, port: "+wsPort+", institution: pumch, allow: [query, retrieve]}\n"+
		"- {aet: ORTHANC, host: 127.0.0.1, port: "+orthancPort+", institution: fahzu, allow: [query, retrieve]}\n"), 0o600)
	dicomAddr := freeAddr(t)
	p := startGateway(t, t.TempDir(), "--demo", "--dicom-listen", dicomAddr, "--dicom-aes", aes)
	host, port, _ := strings.Cut(dicomAddr, ":")
	args := []string{"-aet", "FAHZUPACS", "-aec", "IMGCLOUD", host, port}
	for _, f := range fahzu {
		args = append(args, man.Abs(f))
	}
	if out, err := dcmtk(t, "storescu", args...); err != nil || strings.Contains(out, "Status") {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	move := func(aet, dest string, keys ...string) string {
		t.Helper()
		args := []string{"-v", "-S", "-aet", aet, "-aec", "IMGCLOUD", "-aem", dest}
		for _, k := range keys {
			args = append(args, "-k", k)
		}
		out, _ := dcmtk(t, "movescu", append(args, host, port)...)
		return out
	}

	t.Run("movescu to storescp, stored syntax", func(t *testing.T) {
		out := move("FAHZUWS", "FAHZUWS", "QueryRetrieveLevel=STUDY", "StudyInstanceUID="+study)
		if !strings.Contains(out, "Final Move Response (Success)") {
			t.Fatalf("movescu:\n%s", out)
		}
		for _, f := range inStudy {
			if got, want := dataSet(t, received(t, wsDir, f.SOPUID)), dataSet(t, wadoInstance(t, p.base, f)); !bytes.Equal(got, want) {
				t.Errorf("%s: moved data set (%d bytes) differs from the stored one (%d)", f.SOPUID, len(got), len(want))
			}
		}
		if n := countFiles(wsDir); n != len(inStudy) {
			t.Errorf("storescp received %d files, want %d", n, len(inStudy))
		}
	})

	t.Run("movescu to an implicit-only storescp", func(t *testing.T) {
		f := inStudy[0]
		out := move("FAHZUWS", "FAHZUIMPL", "QueryRetrieveLevel=IMAGE", "StudyInstanceUID="+f.StudyUID,
			"SeriesInstanceUID="+f.SeriesUID, "SOPInstanceUID="+f.SOPUID)
		if !strings.Contains(out, "Final Move Response (Success)") {
			t.Fatalf("movescu:\n%s", out)
		}
		stored := filepath.Join(t.TempDir(), "stored.dcm")
		os.WriteFile(stored, wadoInstance(t, p.base, f), 0o600)
		ref, err := os.ReadFile(dcmtktest.Convert(t, stored, "+ti", "-e"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := dataSet(t, received(t, implDir, f.SOPUID)), dataSet(t, ref); !bytes.Equal(got, want) {
			t.Errorf("re-encoded data set (%d bytes) differs from dcmconv +ti -e (%d)", len(got), len(want))
		}
	})

	t.Run("movescu receiving itself", func(t *testing.T) {
		dir := t.TempDir()
		f := inStudy[0]
		args := []string{"-v", "-S", "-aet", "FAHZUSELF", "-aec", "IMGCLOUD", "-aem", "FAHZUSELF", "+P", selfPort, "-od", dir,
			"-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID=" + f.StudyUID, "-k", "SeriesInstanceUID=" + f.SeriesUID}
		out, err := dcmtk(t, "movescu", append(args, host, port)...)
		if err != nil || !strings.Contains(out, "Final Move Response (Success)") {
			t.Fatalf("movescu +P: %v\n%s", err, out)
		}
		want := 0
		for _, g := range inStudy {
			if g.SeriesUID == f.SeriesUID {
				want++
				received(t, dir, g.SOPUID)
			}
		}
		if n := countFiles(dir); n != want {
			t.Errorf("movescu received %d files, want %d", n, want)
		}
	})

	t.Run("getscu", func(t *testing.T) {
		dir := t.TempDir()
		args := []string{"-v", "-S", "+B", "-aet", "FAHZUWS", "-aec", "IMGCLOUD", "-od", dir,
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + study, host, port}
		out, err := dcmtk(t, "getscu", args...)
		if err != nil || !strings.Contains(out, "Success") {
			t.Fatalf("getscu: %v\n%s", err, out)
		}
		for _, f := range inStudy {
			got := received(t, dir, f.SOPUID)
			if !bytes.Equal(dataSet(t, got), dataSet(t, wadoInstance(t, p.base, f))) {
				t.Errorf("%s: data set received by getscu differs from the stored one", f.SOPUID)
			}
		}
	})

	t.Run("getscu PATIENT level, Patient Root", func(t *testing.T) {
		dir := t.TempDir()
		patient := fahzu[0].PatientID
		want := 0
		for _, f := range fahzu {
			if f.PatientID == patient {
				want++
			}
		}
		out, err := dcmtk(t, "getscu", "-v", "-P", "-aet", "FAHZUWS", "-aec", "IMGCLOUD", "-od", dir,
			"-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID="+patient, host, port)
		if err != nil || countFiles(dir) != want {
			t.Fatalf("getscu of patient %s: %v, %d files, want %d\n%s", patient, err, countFiles(dir), want, out)
		}
	})

	t.Run("findscu PATIENT level and the recognition block", func(t *testing.T) {
		patient := fahzu[0].PatientID
		studies := map[string]bool{}
		for _, f := range fahzu {
			if f.PatientID == patient {
				studies[f.StudyUID] = true
			}
		}
		// A GB18030 query file made by dump2dcm: *=李* (the ideographic
		// group starting with 李) in GB18030 bytes.
		dump := "(0008,0005) CS [GB18030]\n(0008,0052) CS [PATIENT]\n(0010,0010) PN [*=" + string([]byte{0xC0, 0xEE}) + "*]\n" +
			"(0010,0020) LO [" + patient + "]\n(0020,1200) IS []\n(0020,1204) IS []\n"
		query := dcmtktest.Dump2DCM(t, []byte(dump), "+te")
		out, err := dcmtk(t, "findscu", "-v", "-P", "-aet", "FAHZUWS", "-aec", "IMGCLOUD", host, port, query)
		if err != nil || strings.Count(out, "(Pending)") != 1 || !strings.Contains(out, "ISO_IR 192") {
			t.Fatalf("PATIENT level: %v\n%s", err, out)
		}
		if want := fmt.Sprintf("(0020,1200) IS [%-2d]", len(studies)); !strings.Contains(out, want) {
			t.Errorf("PATIENT level: want %s\n%s", want, out)
		}
		if out, _ := dcmtk(t, "findscu", "-v", "-S", "-aet", "FAHZUWS", "-aec", "IMGCLOUD", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", host, port); strings.Contains(out, "(Pending)") {
			t.Errorf("PATIENT level in the Study Root model:\n%s", out)
		}
		out, err = dcmtk(t, "findscu", "-v", "-S", "-aet", "FAHZUWS", "-aec", "IMGCLOUD", "-k", "QueryRetrieveLevel=STUDY",
			"-k", "StudyInstanceUID="+study, "-k", "0011,0010=IMGCLOUD RECOGNITION", "-k", "0011,1001", host, port)
		if err != nil || strings.Count(out, "(Pending)") != 1 {
			t.Fatalf("STUDY level with the recognition block: %v\n%s", err, out)
		}
		if !strings.Contains(out, "(0011,0010) LO [IMGCLOUD RECOGNITION]") || !regexp.MustCompile(`\(0011,1001\) CS \[[A-Z_]+ ?\]`).MatchString(out) {
			t.Errorf("recognition block missing:\n%s", out)
		}
	})

	t.Run("Orthanc moves a study from the gateway into itself, the gateway moves to Orthanc", func(t *testing.T) {
		orthancBinary(t)
		o := startOrthanc(t, map[string]any{}, map[string]any{
			"DicomServerEnabled": true,
			"DicomAet":           "ORTHANC",
			"DicomPort":          json.Number(orthancPort),
			"DicomModalities":    map[string]any{"gateway": []any{"IMGCLOUD", host, json.Number(port)}},
		})
		var job map[string]any
		o.call(t, "POST", "/modalities/gateway/move", map[string]any{"Level": "Study", "TargetAet": "ORTHANC", "Synchronous": true,
			"Resources": []any{map[string]any{"StudyInstanceUID": study}}}, &job)
		for _, f := range inStudy {
			var found []map[string]any
			o.call(t, "POST", "/tools/lookup", []byte(f.SOPUID), &found)
			if len(found) != 1 {
				t.Fatalf("%s not in Orthanc after its C-MOVE: %v\n%s", f.SOPUID, found, o.logText())
			}
			resp, got := gwtest.Do(t, "GET", o.url+"/instances/"+found[0]["ID"].(string)+"/file", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("Orthanc file of %s: %d", f.SOPUID, resp.StatusCode)
			}
			if !bytes.Equal(dataSet(t, got), dataSet(t, wadoInstance(t, p.base, f))) {
				t.Errorf("%s: Orthanc's copy differs from the stored data set", f.SOPUID)
			}
		}
		var all []string
		o.call(t, "GET", "/instances", nil, &all)
		if len(all) != len(inStudy) {
			t.Errorf("Orthanc holds %d instances, want %d", len(all), len(inStudy))
		}

		// And the other way: movescu asks the gateway to send a series of
		// another study to Orthanc.
		var other corpus.File
		for _, f := range fahzu {
			if f.StudyUID != study {
				other = f
				break
			}
		}
		out := move("FAHZUWS", "ORTHANC", "QueryRetrieveLevel=SERIES", "StudyInstanceUID="+other.StudyUID, "SeriesInstanceUID="+other.SeriesUID)
		if !strings.Contains(out, "Final Move Response (Success)") {
			t.Fatalf("movescu to Orthanc:\n%s", out)
		}
		for _, f := range fahzu {
			if f.SeriesUID != other.SeriesUID {
				continue
			}
			var found []map[string]any
			o.call(t, "POST", "/tools/lookup", []byte(f.SOPUID), &found)
			if len(found) != 1 {
				t.Errorf("%s not in Orthanc after the gateway's C-MOVE to it", f.SOPUID)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := countFiles(wsDir)
		out := move("FAHZUWS", "NOWHERE", "QueryRetrieveLevel=STUDY", "StudyInstanceUID="+study)
		if !strings.Contains(out, "Final Move Response (Refused: MoveDestinationUnknown)") {
			t.Errorf("move to an unknown destination:\n%s", out)
		}
		// PUMCH's workstation may not see FAHZU's study: answered as a
		// study that does not exist, nothing sent.
		hidden := move("PUMCHWS", "PUMCHWS", "QueryRetrieveLevel=STUDY", "StudyInstanceUID="+study)
		missing := move("PUMCHWS", "PUMCHWS", "QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.826.0.1.3680043.99.404")
		if !strings.Contains(hidden, "Final Move Response (Success)") || !strings.Contains(missing, "Final Move Response (Success)") {
			t.Errorf("move of a hidden study:\n%s\nof a missing one:\n%s", hidden, missing)
		}
		if n := countFiles(wsDir); n != before {
			t.Errorf("storescp received %d more files after refused moves", n-before)
		}
		// Audited: the hidden study's move with its UID and nothing sent.
		var trail string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, body := gwtest.Do(t, "GET", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/audit?actor=ae:PUMCHWS", nil, nil)
			if trail = string(body); resp.StatusCode == 200 && strings.Contains(trail, study) {
				break
			}
		}
		if !strings.Contains(trail, `"DIMSE C-MOVE"`) || !strings.Contains(trail, study) || !strings.Contains(trail, "to PUMCHWS: 0 completed, 0 failed") {
			t.Errorf("audit trail of PUMCHWS lacks the move of the hidden study:\n%s", trail)
		}
		out = move("FAHZUPACS", "FAHZUWS", "QueryRetrieveLevel=STUDY", "StudyInstanceUID="+study)
		if strings.Contains(out, "(Success)") {
			t.Errorf("move by a store-only AE:\n%s", out)
		}
	})
}
