package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// dcmtk runs a DCMTK network tool with TCP_NODELAY (DCMTK stalls 40 ms per
// message on loopback without it) and returns its combined output.
func dcmtk(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(dcmtktest.Tool(t, name), args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dataSet is a Part 10 file's data set: the bytes after its file meta
// information, the part a C-STORE carries.
func dataSet(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 144 || string(b[128:132]) != "DICM" || string(b[132:136]) != "\x02\x00\x00\x00" {
		t.Fatalf("not a Part 10 file with a group length first")
	}
	return b[144+binary.LittleEndian.Uint32(b[140:144]):]
}

// wadoInstance retrieves one instance over WADO-RS.
func wadoInstance(t *testing.T, base string, f corpus.File) []byte {
	t.Helper()
	return wadoPart(t, base+"/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/instances/"+f.SOPUID,
		map[string]string{"Accept": `multipart/related; type="application/dicom"`})
}

// wadoPart is the first part of a multipart WADO-RS answer to GET url.
func wadoPart(t *testing.T, url string, headers map[string]string) []byte {
	t.Helper()
	resp, body := gwtest.Do(t, "GET", url, headers, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("WADO-RS %s: %d %s", url, resp.StatusCode, body)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(part)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDICOMPort runs a real gateway process with its DICOM port and DCMTK
// peers: C-ECHO from a known AE accepted and from an unknown one rejected;
// storescu of real files, retrieved over WADO-RS with data sets byte for
// byte equal to the sources; a file of another institution refused with
// 0x0124; an unparsable data set answered C000 with the association going
// on; an A-ABORT in the middle of a C-STORE leaving nothing stored.
func TestDICOMPort(t *testing.T) {
	dcmtktest.Tool(t, "storescu")
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 6, SeriesPerStudy: 2, InstancesPerSeries: 3, Big: 0, Seed: 11,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var fahzu []corpus.File // studies of a registered institution
	for _, f := range man.Files {
		if f.IssuerOfPatientID == "FAHZU" {
			fahzu = append(fahzu, f)
		}
	}
	if len(fahzu) < 6 {
		t.Fatalf("corpus has %d FAHZU files, want at least 6", len(fahzu))
	}
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: FAHZUPACS, host: 127.0.0.1, port: 4243, institution: fahzu, allow: [store]}\n"+
		"- {aet: PUMCHPACS, host: 127.0.0.1, port: 4244, institution: pumch, allow: [store]}\n"+
		"- {aet: FAHZUWS, host: 127.0.0.1, port: 4245, institution: fahzu, allow: [query]}\n"), 0o600)
	dicomAddr := freeAddr(t)
	p := startGateway(t, t.TempDir(), "--demo", "--dicom-listen", dicomAddr, "--dicom-aes", aes, "--dicom-check-called-aet")
	host, port, _ := strings.Cut(dicomAddr, ":")

	t.Run("echo", func(t *testing.T) {
		if out, err := dcmtk(t, "echoscu", "-aet", "FAHZUPACS", "-aec", "IMGCLOUD", host, port); err != nil {
			t.Fatalf("echoscu from a known AE: %v\n%s", err, out)
		}
		out, err := dcmtk(t, "echoscu", "-aet", "STRANGER", "-aec", "IMGCLOUD", host, port)
		if err == nil || !strings.Contains(out, "Calling AE Title Not Recognized") {
			t.Errorf("echoscu from an unknown AE: %v\n%s", err, out)
		}
		out, err = dcmtk(t, "echoscu", "-aet", "FAHZUPACS", "-aec", "OTHER", host, port)
		if err == nil || !strings.Contains(out, "Called AE Title Not Recognized") {
			t.Errorf("echoscu to another called AE title: %v\n%s", err, out)
		}
	})

	t.Run("foreign institution refused", func(t *testing.T) {
		out, err := dcmtk(t, "storescu", "-v", "-aet", "PUMCHPACS", "-aec", "IMGCLOUD", host, port, man.Abs(fahzu[0]))
		if !strings.Contains(out, "0x124") {
			t.Fatalf("storescu of a FAHZU file by the PUMCH PACS: %v\n%s", err, out)
		}
		resp, body := gwtest.Do(t, "GET", p.base+"/studies?StudyInstanceUID="+fahzu[0].StudyUID, map[string]string{"Accept": "application/dicom+json"}, nil)
		if strings.Contains(string(body), fahzu[0].StudyUID) {
			t.Errorf("refused study is listed: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("storescu then WADO-RS", func(t *testing.T) {
		args := []string{"-aet", "FAHZUPACS", "-aec", "IMGCLOUD", host, port}
		for _, f := range fahzu {
			args = append(args, man.Abs(f))
		}
		if out, err := dcmtk(t, "storescu", args...); err != nil || strings.Contains(out, "Status") {
			t.Fatalf("storescu: %v\n%s", err, out)
		}
		// A second time: duplicates are idempotent.
		if out, err := dcmtk(t, "storescu", append([]string{"-v"}, args...)...); err != nil || strings.Count(out, "(Success)") != len(fahzu) {
			t.Fatalf("storescu again: %v\n%s", err, out)
		}
		for _, f := range fahzu {
			// storescu sends what DCMTK's writer makes of the file
			// (sequences with explicit lengths): dcmconv with its
			// defaults writes the same bytes.
			ref := filepath.Join(t.TempDir(), "ref.dcm")
			if out, err := dcmtk(t, "dcmconv", man.Abs(f), ref); err != nil {
				t.Fatalf("dcmconv: %v\n%s", err, out)
			}
			src, err := os.ReadFile(ref)
			if err != nil {
				t.Fatal(err)
			}
			got := wadoInstance(t, p.base, f)
			if a, b := dataSet(t, got), dataSet(t, src); !bytes.Equal(a, b) {
				i := 0
				for i < len(a) && i < len(b) && a[i] == b[i] {
					i++
				}
				t.Errorf("%s: retrieved data set (%d bytes) differs from the source (%d) at byte %d: % x / % x", f.Path, len(a), len(b), i, a[max(0, i-16):min(len(a), i+16)], b[max(0, i-16):min(len(b), i+16)])
			}
		}
	})

	t.Run("findscu", func(t *testing.T) {
		find := func(aet string, keys ...string) string {
			args := []string{"-v", "-S", "-aet", aet, "-aec", "IMGCLOUD"}
			for _, k := range keys {
				args = append(args, "-k", k)
			}
			out, err := dcmtk(t, "findscu", append(args, host, port)...)
			if err != nil {
				t.Fatalf("findscu %v: %v\n%s", keys, err, out)
			}
			return out
		}
		studies := map[string]bool{}
		for _, f := range fahzu {
			studies[f.StudyUID] = true
		}
		// Case-insensitive PN wildcard, as QIDO: the FAHZU patients are "Li^Min".
		out := find("FAHZUWS", "QueryRetrieveLevel=STUDY", "PatientName=li*", "StudyInstanceUID", "NumberOfStudyRelatedInstances")
		for uid := range studies {
			if !strings.Contains(out, uid) {
				t.Errorf("STUDY level: %s missing\n%s", uid, out)
			}
		}
		if n := strings.Count(out, "(Pending)"); n != len(studies) {
			t.Errorf("STUDY level: %d matches, want %d\n%s", n, len(studies), out)
		}
		if !strings.Contains(out, "ISO_IR 192") {
			t.Error("answers do not name their character set")
		}
		out = find("FAHZUWS", "QueryRetrieveLevel=SERIES", "StudyInstanceUID="+fahzu[0].StudyUID, "SeriesInstanceUID", "Modality")
		if n := strings.Count(out, "(Pending)"); n != 2 || !strings.Contains(out, fahzu[0].SeriesUID) {
			t.Errorf("SERIES level: %d matches, want 2 with %s\n%s", n, fahzu[0].SeriesUID, out)
		}
		out = find("FAHZUWS", "QueryRetrieveLevel=IMAGE", "StudyInstanceUID="+fahzu[0].StudyUID, "SeriesInstanceUID="+fahzu[0].SeriesUID, "SOPInstanceUID", "InstanceNumber")
		if n := strings.Count(out, "(Pending)"); n != 3 || !strings.Contains(out, fahzu[0].SOPUID) {
			t.Errorf("IMAGE level: %d matches, want 3 with %s\n%s", n, fahzu[0].SOPUID, out)
		}
		// A GB18030 query (*=李* in GB18030 bytes: the ideographic group
		// starts with 李, matched as QIDO matches) finds the same studies.
		gb := "*=" + string([]byte{0xC0, 0xEE}) + "*"
		out = find("FAHZUWS", "QueryRetrieveLevel=STUDY", "SpecificCharacterSet=GB18030", "PatientName="+gb, "StudyInstanceUID")
		if n := strings.Count(out, "(Pending)"); n != len(studies) {
			t.Errorf("GB18030 query: %d matches, want %d\n%s", n, len(studies), out)
		}
		// A store-only AE may not query.
		out = find("FAHZUPACS", "QueryRetrieveLevel=STUDY", "StudyInstanceUID")
		if strings.Contains(out, "(Pending)") || !strings.Contains(out, "0x0124") && !strings.Contains(out, "0x124") {
			t.Errorf("query by a store-only AE:\n%s", out)
		}
	})

	t.Run("bad data set and abort", func(t *testing.T) {
		const sc = "1.2.840.10008.5.1.4.1.1.7"
		c, err := dimse.Dial(context.Background(), dicomAddr, dimse.ClientOptions{CallingAE: "FAHZUPACS", CalledAE: "IMGCLOUD",
			Contexts: []dimse.PresentationContext{{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}})
		if err != nil {
			t.Fatal(err)
		}
		st, comment, err := c.Store(sc, "1.2.826.0.1.99.1", []byte{0x08, 0x00, 0x16, 0x00, 'U', 'I', 0xFF, 0xFF, 1})
		if err != nil || st != 0xC000 || comment == "" {
			t.Fatalf("unparsable data set: status %04X %q %v, want C000 with a comment", st, comment, err)
		}
		good := gwtest.Minimal("1.2.826.0.1.99.2", "1.2.826.0.1.99.3", "1.2.826.0.1.99.4")
		if st, comment, err := c.Store(sc, "1.2.826.0.1.99.4", good); err != nil || st != 0 {
			t.Fatalf("store after the failure: %04X %q %v", st, comment, err)
		}
		c.Release()
		got := wadoInstance(t, p.base, corpus.File{StudyUID: "1.2.826.0.1.99.2", SeriesUID: "1.2.826.0.1.99.3", SOPUID: "1.2.826.0.1.99.4"})
		if !bytes.Equal(dataSet(t, got), good) {
			t.Errorf("stored data set differs from the one sent")
		}

		// Abort in the middle of a data set: nothing stored.
		c, err = dimse.Dial(context.Background(), dicomAddr, dimse.ClientOptions{CallingAE: "FAHZUPACS", CalledAE: "IMGCLOUD",
			Contexts: []dimse.PresentationContext{{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}})
		if err != nil {
			t.Fatal(err)
		}
		cut := gwtest.Minimal("1.2.826.0.1.99.5", "1.2.826.0.1.99.6", "1.2.826.0.1.99.7")
		id, _, _ := c.Context(sc)
		cmd := dimse.Command{}
		cmd.SetString(dimse.TagAffectedSOPClassUID, sc)
		cmd.SetU16(dimse.TagCommandField, dimse.CStoreRQ)
		cmd.SetU16(dimse.TagMessageID, 1)
		cmd.SetU16(dimse.TagDataSetType, 0)
		cmd.SetString(dimse.TagAffectedSOPInstance, "1.2.826.0.1.99.7")
		c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(cmd)},
			dimse.PDV{Context: id, Data: cut[:len(cut)/2]}))
		c.Abort()
		time.Sleep(200 * time.Millisecond)
		for study, want := range map[string]bool{"1.2.826.0.1.99.2": true, "1.2.826.0.1.99.5": false} {
			resp, body := gwtest.Do(t, "GET", p.base+"/studies?StudyInstanceUID="+study, map[string]string{"Accept": "application/dicom+json"}, nil)
			if got := resp.StatusCode == 200 && strings.Contains(string(body), study); got != want {
				t.Errorf("study %s: listed %v, want %v (QIDO %d %s)", study, got, want, resp.StatusCode, body)
			}
		}
	})

	resp, body := gwtest.Do(t, "GET", strings.TrimSuffix(p.base, "/dicomweb")+"/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `gateway_dimse_operations_total{command="C-STORE",status="0124"}`) {
		t.Errorf("metrics lack the DIMSE counters: %d", resp.StatusCode)
	}
	if !strings.Contains(p.log.String(), "assoc=") {
		t.Error("log lines lack the association id")
	}
	fmt.Fprint(io.Discard, body)
}
