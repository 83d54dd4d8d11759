package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// orthanc is a private Orthanc process (Debian's orthanc and
// orthanc-dicomweb) with its own storage folder, on a free loopback port.
type orthanc struct {
	url string // REST root
	log string // its log file
}

// orthancBinary returns the Orthanc program and its DICOMweb plugin, or
// skips the test loudly (fails under CI=true) when they are not installed.
func orthancBinary(t *testing.T) (bin, plugin string) {
	t.Helper()
	bin, err := exec.LookPath("Orthanc")
	if err != nil && fileExists("/usr/sbin/Orthanc") {
		bin, err = "/usr/sbin/Orthanc", nil
	}
	for _, p := range []string{"/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so"} {
		if fileExists(p) {
			plugin = p
			break
		}
	}
	if err != nil || plugin == "" {
		msg := "Orthanc or its DICOMweb plugin is not installed (run scripts/orthanc.sh): this real-client test was SKIPPED"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin, plugin
}

// startOrthanc runs Orthanc with servers as its DICOMweb plugin's remote
// servers and waits until its REST API answers. It listens on loopback
// only, has no DICOM listener (unless extra turns it on) and no
// authentication, and is killed when the test ends. extra are further
// configuration keys (DicomServerEnabled, DicomPort, DicomModalities...).
func startOrthanc(t *testing.T, servers map[string]any, extra ...map[string]any) *orthanc {
	t.Helper()
	bin, plugin := orthancBinary(t)
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	cfg := map[string]any{
		"Name":                   "orthanc-test",
		"StorageDirectory":       filepath.Join(dir, "storage"),
		"IndexDirectory":         filepath.Join(dir, "index"),
		"StorageCompression":     false,
		"Plugins":                []string{plugin},
		"HttpPort":               json.Number(port),
		"RemoteAccessAllowed":    false,
		"AuthenticationEnabled":  false,
		"DicomServerEnabled":     false,
		"DefaultEncoding":        "Utf8",
		"OrthancExplorerEnabled": false,
		"SaveJobs":               false,
		"HttpTimeout":            60,
		"DicomWeb": map[string]any{
			"Enable":  true,
			"Root":    "/dicom-web/",
			"Servers": servers,
		},
	}
	for _, e := range extra {
		for k, v := range e {
			cfg[k] = v
		}
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &orthanc{url: "http://127.0.0.1:" + port, log: filepath.Join(dir, "orthanc.log")}
	logf, err := os.Create(o.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Orthanc's HTTP client and DCMTK stall about 40 ms per message on
	// loopback without it (Nagle against delayed ACK).
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(o.url + "/system"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return o
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Orthanc did not answer /system:\n%s", o.logText())
	return nil
}

func (o *orthanc) logText() string {
	b, _ := os.ReadFile(o.log)
	return string(b)
}

// call sends body (JSON unless it is []byte) to Orthanc's REST API and
// decodes the JSON answer into out.
func (o *orthanc) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	resp, got := gwtest.Do(t, method, o.url+path, nil, r)
	if resp.StatusCode != 200 {
		t.Fatalf("Orthanc %s %s: %d %s\n%s", method, path, resp.StatusCode, got, o.logText())
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("Orthanc %s %s: %v: %s", method, path, err, got)
		}
	}
}

// TestOrthancAsPACS runs Orthanc as a hospital PACS that speaks DICOMweb to
// the gateway through its DICOMweb plugin: files uploaded to Orthanc (the
// library's six real files and a DCMTK JPEG Lossless copy) are sent to the
// gateway with Orthanc's STOW client and a PACS token, and each is then
// stored at the gateway byte for byte (WADO-RS). With a clinician token,
// Orthanc's QIDO client finds them through the gateway, and its retrieve
// (WADO-RS) brings them back into Orthanc, emptied first, with the
// sources' hashes.
func TestOrthancAsPACS(t *testing.T) {
	orthancBinary(t)
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	var files []string
	for i := 1; i <= 6; i++ {
		files = append(files, filepath.Join(src, fmt.Sprintf("%d.dcm", i)))
	}
	jpeg := filepath.Join(t.TempDir(), "3-jpeg-lossless.dcm")
	dcmtktest.Run(t, "dcmcjpeg", "-q", "+e1", filepath.Join(src, "3.dcm"), jpeg)
	dcmtktest.Run(t, "dcmodify", "-q", "-nb", "-gst", "-gse", "-gin", jpeg)
	files = append(files, jpeg)

	type source struct {
		path, study, series, sop, sum string
		data                          []byte
	}
	bySOP := map[string]*source{}
	var sources []*source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := &source{f, h.StudyUID, h.SeriesUID, h.SOPUID, sha(b), b}
		bySOP[s.sop] = s
		sources = append(sources, s)
	}

	admin := "gw_orthanc_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--institutions", "../../recognition/defaults/institutions.yaml")
	root := strings.TrimSuffix(p.base, "/dicomweb")
	token := func(role string) string {
		b, _ := json.Marshal(map[string]string{"role": role, "institution": "jsph", "user": role + "-orthanc"})
		resp, out := gwtest.Do(t, "POST", root+"/api/v1/admin/tokens", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}, bytes.NewReader(b))
		var tok struct{ Token string }
		if resp.StatusCode != 201 || json.Unmarshal(out, &tok) != nil {
			t.Fatalf("%s token: %d %s", role, resp.StatusCode, out)
		}
		return tok.Token
	}
	pacs, clinician := token("pacs"), token("clinician")
	rec := newRecorder(t, root)
	gw := rec.srv.URL + "/dicomweb/"
	o := startOrthanc(t, map[string]any{
		"gw-pacs":      map[string]any{"Url": gw, "HttpHeaders": map[string]string{"Authorization": "Bearer " + pacs}},
		"gw-clinician": map[string]any{"Url": gw, "HttpHeaders": map[string]string{"Authorization": "Bearer " + clinician}},
	})

	// Upload to Orthanc through its REST API; it keeps the files as sent.
	var ids []string
	for _, s := range sources {
		var r struct{ ID, Status string }
		o.call(t, "POST", "/instances", s.data, &r)
		ids = append(ids, r.ID)
		resp, back := gwtest.Do(t, "GET", o.url+"/instances/"+r.ID+"/file", nil, nil)
		if resp.StatusCode != 200 || sha(back) != s.sum {
			t.Fatalf("Orthanc did not keep %s as uploaded (%d)", s.path, resp.StatusCode)
		}
	}

	// Orthanc's STOW-RS client sends them to the gateway as the PACS.
	var stow struct {
		InstancesCount int `json:",string"` // Orthanc quotes its counts
	}
	o.call(t, "POST", "/dicom-web/servers/gw-pacs/stow", map[string]any{"Resources": ids, "Synchronous": true}, &stow)
	if stow.InstancesCount != len(sources) {
		t.Errorf("Orthanc's STOW sent %d instances, want %d", stow.InstancesCount, len(sources))
	}
	for _, s := range sources {
		u := fmt.Sprintf("%s/studies/%s/series/%s/instances/%s", p.base, s.study, s.series, s.sop)
		resp, body := gwtest.Do(t, "GET", u, map[string]string{"Authorization": "Bearer " + clinician, "Accept": `multipart/related; type="application/dicom"; transfer-syntax=*`}, nil)
		if resp.StatusCode != 200 {
			t.Errorf("WADO-RS %s: %d %s", filepath.Base(s.path), resp.StatusCode, body)
			continue
		}
		parts := multipartBodies(t, resp.Header.Get("Content-Type"), body)
		if len(parts) != 1 || !bytes.Equal(parts[0], s.data) {
			t.Errorf("%s: the gateway holds %d parts, not the file Orthanc sent byte for byte", filepath.Base(s.path), len(parts))
		}
	}

	// Orthanc's QIDO-RS client finds every study through the gateway.
	// Orthanc answers with its own simplified JSON: each tag's Value is a
	// string.
	var found []map[string]struct{ Value any }
	o.call(t, "POST", "/dicom-web/servers/gw-clinician/qido", map[string]any{"Uri": "/instances"}, &found)
	seen := map[string]bool{}
	for _, it := range found {
		if v, ok := it["00080018"].Value.(string); ok {
			seen[v] = true
		}
	}
	if len(found) != len(sources) {
		t.Errorf("Orthanc's QIDO through the gateway found %d instances, want %d", len(found), len(sources))
	}
	for _, s := range sources {
		if !seen[s.sop] {
			t.Errorf("Orthanc's QIDO through the gateway did not find %s (%s)", s.sop, filepath.Base(s.path))
		}
	}
	var studies []map[string]struct{ Value any }
	o.call(t, "POST", "/dicom-web/servers/gw-clinician/qido", map[string]any{"Uri": "/studies", "Arguments": map[string]string{"StudyInstanceUID": sources[0].study}}, &studies)
	if len(studies) != 1 || studies[0]["0020000D"].Value != sources[0].study {
		t.Errorf("Orthanc's QIDO for study %s found %d studies", sources[0].study, len(studies))
	}

	// Empty Orthanc, then let its WADO-RS client bring every study back.
	for _, id := range ids {
		o.call(t, "DELETE", "/instances/"+id, nil, nil)
	}
	var left []string
	if o.call(t, "GET", "/instances", nil, &left); len(left) != 0 {
		t.Fatalf("Orthanc still holds %d instances", len(left))
	}
	var want []map[string]string
	done := map[string]bool{}
	for _, s := range sources {
		if !done[s.study] {
			done[s.study] = true
			want = append(want, map[string]string{"Study": s.study})
		}
	}
	var retrieve struct {
		ReceivedInstancesCount int `json:",string"`
	}
	o.call(t, "POST", "/dicom-web/servers/gw-clinician/retrieve", map[string]any{"Resources": want, "Synchronous": true}, &retrieve)
	if retrieve.ReceivedInstancesCount != len(sources) {
		t.Errorf("Orthanc's retrieve received %d instances, want %d", retrieve.ReceivedInstancesCount, len(sources))
	}
	var back []string
	o.call(t, "GET", "/instances", nil, &back)
	got := map[string]string{}
	for _, id := range back {
		resp, sop := gwtest.Do(t, "GET", o.url+"/instances/"+id+"/content/0008-0018", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("SOP UID of %s: %d", id, resp.StatusCode)
		}
		_, b := gwtest.Do(t, "GET", o.url+"/instances/"+id+"/file", nil, nil)
		got[strings.TrimRight(string(sop), "\x00 ")] = sha(b)
	}
	for _, s := range sources {
		switch h, ok := got[s.sop]; {
		case !ok:
			t.Errorf("Orthanc's retrieve from the gateway did not bring back %s", filepath.Base(s.path))
		case h != s.sum:
			t.Errorf("Orthanc's retrieve brought back %s with SHA-256 %s, want %s", filepath.Base(s.path), h, s.sum)
		}
	}
	if len(back) != len(sources) {
		t.Errorf("Orthanc holds %d instances after retrieve, want %d", len(back), len(sources))
	}

	// Every request Orthanc made carried its server's token and succeeded.
	for _, x := range rec.exchanges() {
		if x.status >= 400 {
			t.Errorf("gateway answered %d to Orthanc's %s %s (Accept %q)", x.status, x.method, x.url, x.accept)
		}
		wantAuth := "Bearer " + clinician
		if x.method == "POST" {
			wantAuth = "Bearer " + pacs
		}
		if x.auth != wantAuth {
			t.Errorf("Orthanc sent %s %s with Authorization %q", x.method, x.url, x.auth)
		}
	}
	if t.Failed() {
		for _, x := range rec.exchanges() {
			t.Logf("%d %s %s (Accept %q) -> %s", x.status, x.method, x.url, x.accept, x.contentType)
		}
		t.Logf("Orthanc log:\n%s", o.logText())
	}
}

// multipartBodies reads a multipart/related answer with the standard
// library's reader.
func multipartBodies(t *testing.T, contentType string, body []byte) [][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][]byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		out = append(out, b)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
