package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestCompressAtIngest: an institution whose registry entry says
// compress_at_ingest (JPEG-LS with the cgo codecs, RLE in the pure-Go
// build) stores a real MR through STOW-RS and a real 2-frame CT through
// DCMTK's storescu: both answers are the usual ones; the objects are
// stored compressed and DCMTK reads them; a retrieve in Explicit VR Little
// Endian gives the received pixels byte for byte; the metadata says what
// was received; a re-send is a duplicate; the audit trail says each was
// compressed; the metrics count them. An institution asking for an
// encoder the build lacks is named in /readyz (pure-Go build).
func TestCompressAtIngest(t *testing.T) {
	dcmtktest.Tool(t, "storescu")
	name, ts := "rle", codec.RLELossless
	if codecs.Cgo {
		name, ts = "jpeg-ls-lossless", codec.JPEGLSLossless
	}
	var mr, ct string
	for _, n := range codectest.Natives(t) {
		switch n.Name {
		case "3.dcm":
			mr = n.Path
		case "5.dcm":
			ct = n.Path
		}
	}
	shipped, err := os.ReadFile("../../recognition/defaults/institutions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(t.TempDir(), "institutions.yaml")
	if err := os.WriteFile(reg, append(shipped, `
  - id: cz-hosp
    name: 压缩测试医院
    province: "330000"
    compress_at_ingest: `+name+`
  - id: j2k-hosp
    name: 另一测试医院
    province: "330000"
    compress_at_ingest: j2k-lossless
`...), 0o600); err != nil {
		t.Fatal(err)
	}
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: CZPACS, host: 127.0.0.1, port: 4243, institution: cz-hosp, allow: [store]}\n"), 0o600)
	dicomAddr := freeAddr(t)
	admin := "gw_ops_0123456789abcdefghijklmnop"
	data := t.TempDir()
	p := startGatewayArgs(t, data, "--admin-token", admin, "--institutions", reg, "--dicom-listen", dicomAddr, "--dicom-aes", aes)
	root := strings.TrimSuffix(p.base, "/dicomweb")
	adminAuth := map[string]string{"Authorization": "Bearer " + admin}
	pacs, clinician := issueToken(t, root, admin, "pacs", "cz-hosp"), issueToken(t, root, admin, "clinician", "cz-hosp")
	stow := func(path string) string {
		body, ctype := gwtest.Multipart(gwtest.FileParts(t, path))
		resp, out := gwtest.Do(t, "POST", p.base+"/studies", map[string]string{"Authorization": "Bearer " + pacs, "Content-Type": ctype, "Accept": "application/dicom+json"}, bytes.NewReader(body))
		if resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s\n%s", resp.StatusCode, out, p.log.String())
		}
		return string(out)
	}
	first := stow(mr)
	host, port, _ := strings.Cut(dicomAddr, ":")
	if out, err := dcmtk(t, "storescu", "-aet", "CZPACS", "-aec", "IMGCLOUD", host, port, ct); err != nil || strings.Contains(out, "Status") {
		t.Fatalf("storescu: %v\n%s", err, out)
	}

	for _, path := range []string{mr, ct} {
		received, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(received), int64(len(received)), dcm.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		url := p.base + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
		as := func(syntax string) []byte {
			return wadoPart(t, url, map[string]string{"Authorization": "Bearer " + clinician,
				"Accept": `multipart/related; type="application/dicom"; transfer-syntax=` + syntax})
		}
		stored := as("*")
		sh, err := dcm.ReadHeader(bytes.NewReader(stored), int64(len(stored)), dcm.Limits{})
		if err != nil || sh.TransferSyntax != ts || len(stored) >= len(received) {
			t.Fatalf("%s stored: %v, syntax %s, %d bytes for %d received", filepath.Base(path), err, sh.TransferSyntax, len(stored), len(received))
		}
		obj := filepath.Join(t.TempDir(), "stored.dcm")
		os.WriteFile(obj, stored, 0o600)
		if out := dcmtktest.Run(t, "dcmdump", "-q", "+E", obj); strings.Contains(string(out), "E: ") {
			t.Fatalf("dcmdump of the stored object: %s", out)
		}
		_, want := codectest.Frames(t, path)
		_, got := nativeFrames(t, as(dcm.ExplicitVRLittleEndian))
		if len(got) != len(want) {
			t.Fatalf("%d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s frame %d retrieved in Explicit VR Little Endian is not the received frame", filepath.Base(path), i+1)
			}
		}
		// The ingest block's received syntax (its block follows the file's
		// own private blocks of group 0013: 3.dcm has CTP's).
		resp, meta := gwtest.Do(t, "GET", url+"/metadata", map[string]string{"Authorization": "Bearer " + clinician, "Accept": "application/dicom+json"}, nil)
		if resp.StatusCode != 200 || !regexp.MustCompile(`"0013[0-9A-F]{2}10":\{"vr":"UI","Value":\["`+regexp.QuoteMeta(h.TransferSyntax)+`"\]\}`).Match(meta) {
			i := strings.Index(string(meta), `"0013`)
			t.Fatalf("metadata: %d %.400s", resp.StatusCode, meta[max(i, 0):])
		}
	}
	if again := stow(mr); strings.Contains(again, "00081198") || !strings.Contains(first, "00081199") || !strings.Contains(again, "00081199") {
		t.Fatalf("re-send: %s, want a stored instance as at first: %s", again, first)
	}

	resp, trail := gwtest.Do(t, "GET", root+"/api/v1/admin/audit", adminAuth, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(trail), "1 of 1 instance(s) stored compressed at ingest in "+ts) ||
		!strings.Contains(string(trail), "stored compressed at ingest in "+ts+" (") {
		t.Errorf("audit trail (%d) does not say both were compressed: %.2000s", resp.StatusCode, trail)
	}
	resp, metrics := gwtest.Do(t, "GET", root+"/metrics", adminAuth, nil)
	if line := `gateway_ingest_compression_instances_total{outcome="compressed",syntax="` + ts + `"} 2`; resp.StatusCode != 200 || !strings.Contains(string(metrics), line) {
		t.Errorf("metrics (%d) lack %s: %s", resp.StatusCode, line, regexp.MustCompile(`(?m)^gateway_ingest.*$`).FindAll(metrics, -1))
	}
	_, ready := gwtest.Do(t, "GET", root+"/readyz", nil, nil)
	note := "cannot compress at ingest: institution j2k-hosp asks for " + codec.JPEG2000Lossless
	if strings.Contains(string(ready), note) == codecs.Cgo {
		t.Errorf("/readyz (cgo codecs %v): %s", codecs.Cgo, ready)
	}
	if strings.Contains(p.log.String(), note) == codecs.Cgo {
		t.Errorf("the start log (cgo codecs %v) and the note %q", codecs.Cgo, note)
	}
}
