package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/npmtest"
)

// These tests run the published builds of third-party DICOMweb clients
// (npm, pinned in internal/testutil/npmtest/package-lock.json) against a
// gateway process: OHIF Viewer v3 and v2 in Chromium, dicomweb-client and
// dcmjs in Node.js.

// compressedInstance is a real image compressed by a third-party encoder.
type compressedInstance struct {
	name, path                   string
	study, series, sop, transfer string
}

// compressedInstances encodes the library's MR image (3.dcm, 176x176) with
// DCMTK and GDCM; each gets fresh UIDs, so each is a study of its own.
func compressedInstances(t *testing.T) []compressedInstance {
	t.Helper()
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	encoders := []struct {
		name, tool string
		args       []string
	}{
		{"JPEG Lossless SV1", "dcmcjpeg", []string{"-q", "+e1"}},
		{"JPEG-LS lossless", "dcmcjpls", []string{"-q", "+el"}},
		{"JPEG 2000 lossless", "gdcmconv", []string{"--j2k"}},
	}
	var out []compressedInstance
	for i, enc := range encoders {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("c%d.dcm", i))
		dcmtktest.Run(t, enc.tool, append(enc.args, filepath.Join(src, "3.dcm"), p)...)
		// Fresh UIDs, a patient name to find the row by. VOILUTFunction is
		// removed: OHIF 3.13.2 draws the thumbnails the gateway cannot
		// render (406 for these syntaxes) itself, and its image loader
		// (@cornerstonejs/dicom-image-loader 5.6.8, createImage) takes the
		// first character of a single-valued VOILUTFunction ("L" of
		// "LINEAR"), throws "Invalid VOI LUT function", and its error
		// boundary can take the viewport down with the thumbnail.
		dcmtktest.Run(t, "dcmodify", "-q", "-nb", "-gst", "-gse", "-gin", "-m", "PatientName=COMPRESSED^"+strings.ReplaceAll(enc.name, " ", "_"), "-ea", "(0028,1056)", p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", enc.name, err)
		}
		out = append(out, compressedInstance{enc.name, p, h.StudyUID, h.SeriesUID, h.SOPUID, h.TransferSyntax})
	}
	return out
}

// exchange is one request a client sent through the recording proxy.
type exchange struct {
	method, url, accept, auth string
	status                    int
	contentType               string // of the answer
}

// recorder is a reverse proxy in front of the gateway that keeps every
// request a client makes and the gateway's status.
type recorder struct {
	mu   sync.Mutex
	seen []exchange
	srv  *httptest.Server
}

func newRecorder(t *testing.T, gatewayRoot string) *recorder {
	t.Helper()
	target, _ := url.Parse(gatewayRoot)
	rp := httputil.NewSingleHostReverseProxy(target)
	r := &recorder{}
	rp.ModifyResponse = func(resp *http.Response) error {
		q := resp.Request
		r.mu.Lock()
		r.seen = append(r.seen, exchange{q.Method, q.URL.RequestURI(), q.Header.Get("Accept"), q.Header.Get("Authorization"), resp.StatusCode, resp.Header.Get("Content-Type")})
		r.mu.Unlock()
		return nil
	}
	r.srv = httptest.NewServer(rp)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.seen...)
}

// serveApp serves a single-page app's built folder from its own origin:
// the paths of over from it, other files as they are, any other path as
// /index.html (the router's routes). COOP and COEP are set as OHIF's
// deployment guide asks, so cross-origin answers need CORS or CORP.
func serveApp(t *testing.T, dist string, over map[string][]byte) *httptest.Server {
	t.Helper()
	files := http.FileServer(http.Dir(dist))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		if b, ok := over[r.URL.Path]; ok {
			w.Header().Set("Content-Type", mime.TypeByExtension(filepath.Ext(r.URL.Path)))
			w.Write(b)
			return
		}
		switch {
		case r.URL.Path != "/" && fileExists(filepath.Join(dist, filepath.FromSlash(r.URL.Path))):
			files.ServeHTTP(w, r)
		case over["/index.html"] != nil:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(over["/index.html"])
		default:
			http.ServeFile(w, r, filepath.Join(dist, "index.html"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// studyUIDs lists the study UIDs the gateway holds.
func studyUIDs(t *testing.T, base string, hdr map[string]string) []string {
	t.Helper()
	h := map[string]string{"Accept": "application/dicom+json"}
	for k, v := range hdr {
		h[k] = v
	}
	resp, body := gwtest.Do(t, "GET", base+"/studies", h, nil)
	var studies []dcm.Dataset
	if resp.StatusCode != 200 || json.Unmarshal(body, &studies) != nil {
		t.Fatalf("QIDO studies: %d %s", resp.StatusCode, body)
	}
	var uids []string
	for _, s := range studies {
		uids = append(uids, s.String("0020000D"))
	}
	sort.Strings(uids)
	return uids
}

// canvasLit is JavaScript that counts the pixels of the largest visible
// canvas that are not the black background.
const canvasLit = `(() => {
  let best = null;
  for (const c of document.querySelectorAll('canvas')) {
    if (c.width * c.height > (best ? best.width * best.height : 0) && c.offsetWidth > 0) best = c;
  }
  if (!best) return -1;
  const g = document.createElement('canvas');
  g.width = best.width; g.height = best.height;
  const ctx = g.getContext('2d');
  ctx.drawImage(best, 0, 0);
  const d = ctx.getImageData(0, 0, g.width, g.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 16 || d[i+1] > 16 || d[i+2] > 16) n++;
  return n;
})()`

// TestOHIFv3Viewer serves OHIF Viewer v3's published build (npm @ohif/app,
// dist/) with its own default app-config.js, whose only change is that its
// data source's three roots point at the gateway (cross-origin): the study
// list shows every stored study (the demo and three studies compressed by
// DCMTK and GDCM), and each compressed study opens and draws its image.
//
// OHIF v3's DICOMweb data source takes its Authorization header only from
// its user authentication service (OIDC, or a ?token= on a viewer URL; the
// study list has none): no static header can be configured, so this
// gateway runs without authentication. OHIF v2 runs with a bearer token
// (TestOHIFv2StudyList).
func TestOHIFv3Viewer(t *testing.T) {
	chrome := browsertest.Chromium(t)
	dist := filepath.Join(npmtest.Package(t, "@ohif/app"), "dist")
	compressed := compressedInstances(t)
	p := startGateway(t, t.TempDir(), "--demo")
	for _, c := range compressed {
		if resp, body := gwtest.Stow(t, p.base+"/studies", gwtest.FileParts(t, c.path)); resp.StatusCode != 200 {
			t.Fatalf("STOW %s: %d %s", c.name, resp.StatusCode, body)
		}
	}
	want := studyUIDs(t, p.base, nil)
	if len(want) < len(compressed)+2 {
		t.Fatalf("gateway holds %d studies", len(want))
	}
	rec := newRecorder(t, strings.TrimSuffix(p.base, "/dicomweb"))
	stock, err := os.ReadFile(filepath.Join(dist, "app-config.js"))
	if err != nil {
		t.Fatal(err)
	}
	const defaultRoot = "https://d14fa38qiwhyfd.cloudfront.net/dicomweb"
	if n := bytes.Count(stock, []byte(defaultRoot)); n != 3 {
		t.Fatalf("OHIF's default app-config.js names %s %d times, want 3 (wadoUriRoot, qidoRoot, wadoRoot)", defaultRoot, n)
	}
	config := bytes.ReplaceAll(stock, []byte(defaultRoot), []byte(rec.srv.URL+"/dicomweb"))
	app := serveApp(t, dist, map[string][]byte{"/app-config.js": config})

	var problems browsertest.Problems
	problems.Allow("/thumbnail") // 406 for these syntaxes, see below
	ctx := browsertest.New(t, chrome, &problems)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	shots := t.TempDir()
	defer explainFailure(t, ctx, shots, "ohif-v3", rec, &problems)
	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// The rows name no study UID: count them, and find each compressed
	// study's patient (OHIF writes FAMILY^GIVEN as "FAMILY, GIVEN").
	rows := `Array.from(document.querySelectorAll('tr[aria-selected]')).map(e => e.cells[0].textContent)`
	browsertest.Wait(t, ctx, "OHIF v3 study list rows", rows+`.length >= `+fmt.Sprint(len(want)))
	time.Sleep(time.Second) // a late row would make the count too high
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rows))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("OHIF v3 study list shows %d rows %q, want %d studies", len(got), got, len(want))
	}
	for _, c := range compressed {
		name := "COMPRESSED, " + strings.ReplaceAll(c.name, " ", "_")
		if !slices.Contains(got, name) {
			t.Errorf("OHIF v3 study list has no row %q: %q", name, got)
		}
	}
	browsertest.Screenshot(t, ctx, shots, "ohif-v3-study-list")

	for _, c := range compressed {
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/viewer?StudyInstanceUIDs="+c.study)); err != nil {
			t.Fatal(err)
		}
		if n := waitLit(ctx, 30*time.Second); n < 2000 {
			t.Errorf("OHIF v3 drew %d non-background pixels of the %s image", n, c.name)
		}
		browsertest.Screenshot(t, ctx, shots, "ohif-v3-"+strings.ReplaceAll(c.name, " ", "-"))
		frame := "/instances/" + c.sop + "/frames/1"
		ok := false
		for _, x := range rec.exchanges() {
			if strings.Contains(x.url, frame) {
				ok = x.status == 200
				if !strings.Contains(x.accept, "type=application/octet-stream") {
					t.Errorf("%s: frame asked with Accept %q", c.name, x.accept)
				}
				if !strings.Contains(x.contentType, "transfer-syntax="+c.transfer) {
					t.Errorf("%s: frame answered as %q, not in the stored syntax %s", c.name, x.contentType, c.transfer)
				}
			}
		}
		if !ok {
			t.Errorf("%s: OHIF v3 did not get frame 1 of %s from the gateway", c.name, c.sop)
		}
	}
	for _, x := range rec.exchanges() {
		// The gateway renders native, RLE and JPEG baseline images only
		// (docs/ohif.md); OHIF then draws the thumbnail itself.
		if x.status == http.StatusNotAcceptable && strings.Contains(x.url, "/thumbnail") {
			continue
		}
		if x.status >= 400 {
			t.Errorf("gateway answered %d to OHIF v3's %s %s (Accept %q)", x.status, x.method, x.url, x.accept)
		}
	}
	problems.Check(t, "OHIF v3")
}

// explainFailure logs, when the test failed, what the client asked and
// what the page complained of, and saves a screenshot.
func explainFailure(t *testing.T, ctx context.Context, shots, name string, rec *recorder, problems *browsertest.Problems) {
	if !t.Failed() {
		return
	}
	for _, x := range rec.exchanges() {
		t.Logf("%d %s %s (Accept %q)", x.status, x.method, x.url, x.accept)
	}
	problems.Check(t, name)
	if ctx.Err() == nil {
		browsertest.Screenshot(t, ctx, shots, name+"-failed")
	}
}

// waitLit polls canvasLit until it passes 2000 or d has passed, and
// returns its last count.
func waitLit(ctx context.Context, d time.Duration) int {
	deadline := time.Now().Add(d)
	n := -1
	for time.Now().Before(deadline) {
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[int](canvasLit)); err == nil {
			n = v
			if n >= 2000 {
				return n
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return n
}

// ohifV2Page is OHIF v2's own dist/index.html without its polyfill.io
// script (no network here): the config, the UMD bundle and its install
// call as published.
const ohifV2Page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" /><title>OHIF Standalone Viewer</title></head>
<body><div id="root"></div>
<script type="text/javascript" src="/app-config.js"></script>
<script src="/index.umd.js" crossorigin></script>
<script>window.OHIFViewer.installViewer(window.config, 'root', function () {});</script>
</body></html>`

// TestOHIFv2StudyList serves OHIF Viewer v2's published build (npm
// @ohif/viewer 4.x, dist/index.umd.js installed with
// OHIFViewer.installViewer) with its own default app-config.js, whose only
// changes are that its DICOMweb server's roots point at the gateway
// (cross-origin) and that it sends a bearer token (requestOptions.auth, v2's
// per-server Authorization header). Its study list must show a row for
// each study (a Modality without a Value at the study level made it throw
// and draw nothing while every request answered 200).
func TestOHIFv2StudyList(t *testing.T) {
	chrome := browsertest.Chromium(t)
	dist := filepath.Join(npmtest.Package(t, "@ohif/viewer"), "dist")
	compressed := compressedInstances(t)
	admin := "gw_ohif2_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo")
	bearer := map[string]string{"Authorization": "Bearer " + admin}
	for _, c := range compressed {
		body, ct := gwtest.Multipart(gwtest.FileParts(t, c.path))
		resp, b := gwtest.Do(t, "POST", p.base+"/studies", map[string]string{"Content-Type": ct, "Accept": "application/dicom+json", "Authorization": bearer["Authorization"]}, bytes.NewReader(body))
		if resp.StatusCode != 200 {
			t.Fatalf("STOW %s: %d %s", c.name, resp.StatusCode, b)
		}
	}
	if resp, _ := gwtest.Do(t, "GET", p.base+"/studies", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("QIDO without a token: %d, want 401", resp.StatusCode)
	}
	want := studyUIDs(t, p.base, bearer)
	rec := newRecorder(t, strings.TrimSuffix(p.base, "/dicomweb"))
	stock, err := os.ReadFile(filepath.Join(dist, "app-config.js"))
	if err != nil {
		t.Fatal(err)
	}
	const defaultRoot = "https://server.dcmjs.org/dcm4chee-arc/aets/DCM4CHEE"
	if n := bytes.Count(stock, []byte(defaultRoot)); n != 3 {
		t.Fatalf("OHIF v2's default app-config.js names %s %d times, want 3", defaultRoot, n)
	}
	config := bytes.ReplaceAll(stock, []byte(defaultRoot+"/wado"), []byte(rec.srv.URL+"/dicomweb/wado"))
	config = bytes.ReplaceAll(config, []byte(defaultRoot+"/rs"), []byte(rec.srv.URL+"/dicomweb"))
	config = append(config, []byte("\nwindow.config.servers.dicomWeb[0].requestOptions = { auth: () => 'Bearer "+admin+"' };\n")...)
	app := serveApp(t, dist, map[string][]byte{"/app-config.js": config, "/index.html": []byte(ohifV2Page)})

	var problems browsertest.Problems
	ctx := browsertest.New(t, chrome, &problems)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	shots := t.TempDir()
	defer explainFailure(t, ctx, shots, "ohif-v2", rec, &problems)
	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/")); err != nil {
		t.Fatal(err)
	}
	rows := `Array.from(document.querySelectorAll('tbody[data-cy="study-list-results"] tr:not(.no-hover)')).map(e => e.innerText)`
	browsertest.Wait(t, ctx, "OHIF v2 study list rows", rows+`.length >= `+fmt.Sprint(len(want)))
	time.Sleep(time.Second)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rows))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, shots, "ohif-v2-study-list")
	if len(got) != len(want) {
		t.Errorf("OHIF v2 study list shows %d rows %q, want %d studies", len(got), got, len(want))
	}
	for _, c := range compressed {
		name := "COMPRESSED^" + strings.ReplaceAll(c.name, " ", "_")
		if !slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, name) && strings.Contains(r, "MR") }) {
			t.Errorf("OHIF v2 study list has no row of %s (MR): %q", name, got)
		}
	}
	sawList := false
	for _, x := range rec.exchanges() {
		if x.status >= 400 {
			t.Errorf("gateway answered %d to OHIF v2's %s %s", x.status, x.method, x.url)
		}
		if x.method == "GET" && strings.HasPrefix(x.url, "/dicomweb/studies?") {
			sawList = true
			if x.auth != "Bearer "+admin {
				t.Errorf("OHIF v2 sent the study list query with Authorization %q", x.auth)
			}
		}
	}
	if !sawList {
		t.Error("OHIF v2 sent no study list query")
	}
	problems.Check(t, "OHIF v2")
}

// TestDicomwebClientNode runs testdata/dicomweb-client.cjs: dicomweb-client
// (npm, the DICOMweb library of OHIF) with a bearer token stores real
// files (native single- and multi-frame, and DCMTK's and GDCM's compressed
// ones), finds them with QIDO, and retrieves metadata, the instance and the
// frames, each compared with what dcmjs reads from the source file.
func TestDicomwebClientNode(t *testing.T) {
	npmtest.Modules(t)
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	files := []string{filepath.Join(src, "3.dcm"), filepath.Join(src, "5.dcm")}
	for _, c := range compressedInstances(t) {
		files = append(files, c.path)
	}
	admin := "gw_wadoc_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin)
	out := npmtest.Node(t, filepath.Join("testdata", "dicomweb-client.cjs"),
		"GATEWAY="+p.base, "TOKEN="+admin, "FILES="+strings.Join(files, ","))
	t.Log(out)
	if n := strings.Count(out, "byte for byte"); n != len(files) {
		t.Fatalf("%d of %d files checked:\n%s", n, len(files), out)
	}
}
