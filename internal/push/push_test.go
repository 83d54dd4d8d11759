package push

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
)

// testCorpus generates studies x 2 series x 2 instances of small real DICOM
// files, plus files that are not DICOM, and returns the manifest.
func testCorpus(t *testing.T, studies int) *corpus.Manifest {
	t.Helper()
	dir := t.TempDir()
	m, err := corpus.Generate(dir, corpus.Options{
		Studies: studies, SeriesPerStudy: 2, InstancesPerSeries: 2, Seed: 5,
		Today: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := bytes.Repeat([]byte{0xAB}, 300) // long enough, no DICM at 128
	if err := os.WriteFile(filepath.Join(dir, "study001", "fake.dcm"), fake, 0o644); err != nil {
		t.Fatal(err)
	}
	return m // manifest.json, notes.txt and fake.dcm: 3 files to skip
}

// onDisk maps SOP UIDs to absolute paths.
func onDisk(m *corpus.Manifest) map[string]string {
	out := map[string]string{}
	for _, f := range m.Files {
		out[f.SOPUID] = m.Abs(f)
	}
	return out
}

func TestRunStoresAndMapsFailures(t *testing.T) {
	m := testCorpus(t, 4)
	srv, hs := newServer(t, onDisk(m))
	srv.token = "s3cret"
	failA, failB := m.Files[1], m.Files[9]
	srv.fail[failA.SOPUID] = true
	srv.fail[failB.SOPUID] = true

	var bar bytes.Buffer
	sum, err := Run(context.Background(), Options{
		BaseURL: hs.URL + "/dicomweb/", Dir: m.Dir, Token: "s3cret", Concurrency: 3, Progress: &bar,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 16+3 || sum.Stored != 14 || sum.Failed != 2 || sum.Skipped != 3 {
		t.Errorf("summary %+v", sum)
	}
	if sum.Bytes != m.TotalSize() {
		t.Errorf("Bytes %d, want %d", sum.Bytes, m.TotalSize())
	}
	for _, f := range sum.Failures {
		if f.SOPUID != failA.SOPUID && f.SOPUID != failB.SOPUID {
			t.Errorf("unexpected failure %+v", f)
		}
		if want := m.Abs(map[string]corpus.File{failA.SOPUID: failA, failB.SOPUID: failB}[f.SOPUID]); f.Path != want {
			t.Errorf("failure path %s, want %s", f.Path, want)
		}
		if !strings.Contains(f.Reason, "272") || !strings.Contains(f.Reason, "processing failure") || !strings.Contains(f.Reason, "refused by the test server") {
			t.Errorf("failure reason %q", f.Reason)
		}
	}
	for _, s := range sum.Skips {
		if s.Reason != "not DICOM Part 10" {
			t.Errorf("skip %+v", s)
		}
	}
	// One request per study (all fit in the default 32 MiB), each one study.
	reqs := srv.requestsReceived()
	if len(reqs) != 4 {
		t.Errorf("%d requests, want 4 (one per study)", len(reqs))
	}
	for _, r := range reqs {
		if len(r.studies) != 1 || r.parts != 4 {
			t.Errorf("request with %d studies, %d parts", len(r.studies), r.parts)
		}
	}
	for sop := range onDisk(m) {
		if srv.seen[sop] != 1 {
			t.Errorf("SOP %s received %d times", sop, srv.seen[sop])
		}
	}
	if !strings.Contains(bar.String(), "push") || !strings.Contains(bar.String(), "done") {
		t.Errorf("progress output %q", bar.String())
	}

	var out bytes.Buffer
	sum.Print(&out)
	// Both failures share a reason with the server's comment: one line,
	// with the first of the two files as the example.
	example := min(m.Abs(failA), m.Abs(failB))
	for _, want := range []string{"19 files: 14 stored, 2 failed, 3 skipped", "failed 2, by reason",
		"     2  FailureReason 272 (0x0110 processing failure): refused by the test server", "e.g. " + example, "not DICOM Part 10"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunLibraryTestdata(t *testing.T) {
	src, err := corpus.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(src, "*.dcm"))
	if err != nil || len(paths) != 6 {
		t.Fatalf("testdata files %v (%v)", paths, err)
	}
	disk := map[string]string{}
	for _, p := range paths {
		f, err := readHeader(p) // implicit VR (4.dcm) and deflated (6.dcm) included
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		disk[f.sopUID] = p
	}
	srv, hs := newServer(t, disk)
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: src, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 6 || sum.Failed != 0 || sum.Skipped != sum.Files-6 {
		t.Errorf("summary %+v", sum)
	}
	if got := srv.requests.Load(); got != 6 {
		t.Errorf("%d requests for 6 studies", got)
	}
}

func TestRunBatchesBySize(t *testing.T) {
	m := testCorpus(t, 3)
	srv, hs := newServer(t, onDisk(m))
	var limit int64 = 200 << 10
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, BatchBytes: limit, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 12 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	reqs := srv.requestsReceived()
	if len(reqs) <= 3 {
		t.Errorf("%d requests: batches were not split", len(reqs))
	}
	single := 0
	for _, r := range reqs {
		if len(r.studies) != 1 {
			t.Errorf("request mixes %d studies", len(r.studies))
		}
		if r.parts == 1 {
			single++
		} else if r.bytes > limit {
			t.Errorf("request of %d parts, %d bytes > %d", r.parts, r.bytes, limit)
		}
	}
	if single == 0 {
		t.Error("no file larger than the batch size went alone")
	}
}

func TestRunRespectsConcurrency(t *testing.T) {
	m := testCorpus(t, 2)
	for _, c := range []int{1, 2} {
		srv, hs := newServer(t, onDisk(m))
		srv.delay = 30 * time.Millisecond
		sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, Concurrency: c, BatchBytes: 1})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Stored != 8 {
			t.Errorf("c=%d: summary %+v", c, sum)
		}
		if got := srv.requests.Load(); got != 8 {
			t.Errorf("c=%d: %d requests, want 8 (one file each)", c, got)
		}
		if got := srv.maxInflight.Load(); got != int32(c) {
			t.Errorf("c=%d: max %d requests in flight", c, got)
		}
	}
}

func TestRunRetries503(t *testing.T) {
	m := testCorpus(t, 1)
	srv, hs := newServer(t, onDisk(m))
	srv.before = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 4 || sum.Failed != 0 || srv.requests.Load() != 3 {
		t.Errorf("summary %+v after %v", sum, srv)
	}
}

func TestRunGivesUpAfterTwoRetries(t *testing.T) {
	m := testCorpus(t, 1)
	srv, hs := newServer(t, onDisk(m))
	srv.before = func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return true
	}
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 4 || srv.requests.Load() != 3 {
		t.Errorf("summary %+v after %v", sum, srv)
	}
	for _, f := range sum.Failures {
		if f.Reason != "HTTP 503 Service Unavailable: maintenance" {
			t.Errorf("reason %q", f.Reason)
		}
	}
}

func TestRunRetriesNetworkError(t *testing.T) {
	m := testCorpus(t, 1)
	srv, hs := newServer(t, onDisk(m))
	srv.before = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n > 1 {
			return false
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return true
		}
		conn.Close()
		return true
	}
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 4 || srv.requests.Load() != 2 {
		t.Errorf("summary %+v after %v", sum, srv)
	}
}

func TestRunHTTPErrorFailsBatch(t *testing.T) {
	m := testCorpus(t, 2)
	srv, hs := newServer(t, onDisk(m))
	srv.token = "right"
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, Token: "wrong", RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 8 || sum.Stored != 0 || srv.requests.Load() != 2 {
		t.Errorf("summary %+v after %v (4xx must not be retried)", sum, srv)
	}
	if sum.Failures[0].Reason != "HTTP 401 Unauthorized: bad token" {
		t.Errorf("reason %q", sum.Failures[0].Reason)
	}
}

func TestRunNetworkDown(t *testing.T) {
	m := testCorpus(t, 1)
	_, hs := newServer(t, onDisk(m))
	hs.Close()
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL + "/dicomweb", Dir: m.Dir, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 4 || !strings.Contains(sum.Failures[0].Reason, "connect") {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunUnreadableHeader(t *testing.T) {
	dir := t.TempDir()
	junk := append(make([]byte, 128), "DICM"...)
	junk = append(junk, bytes.Repeat([]byte{0xFF}, 64)...)
	if err := os.WriteFile(filepath.Join(dir, "broken.dcm"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{BaseURL: "http://127.0.0.1:1/dicomweb", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 1 || sum.Failed != 1 || !strings.HasPrefix(sum.Failures[0].Reason, "read header") {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunOptionsAndCancel(t *testing.T) {
	ctx := context.Background()
	if _, err := Run(ctx, Options{Dir: "."}); err == nil {
		t.Error("missing URL accepted")
	}
	if _, err := Run(ctx, Options{BaseURL: "ftp://x", Dir: "."}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := Run(ctx, Options{BaseURL: "http://x", Dir: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("missing dir accepted")
	}
	m := testCorpus(t, 1)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, Options{BaseURL: "http://127.0.0.1:1", Dir: m.Dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}

func TestMultipartLength(t *testing.T) {
	m := testCorpus(t, 1)
	var files []*file
	for _, f := range m.Files[:3] {
		files = append(files, &file{path: m.Abs(f), size: f.Size})
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	n, err := multipartLength(mw.Boundary(), files)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeParts(mw, files); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	if int64(buf.Len()) != n {
		t.Errorf("computed %d, wrote %d", n, buf.Len())
	}
}

// TestRunStopsAfterNetworkError: a connection error is retried once; after
// that the server counts as down and the remaining batches are not sent,
// each failing with that one error, and the bar counts them as failed.
func TestRunStopsAfterNetworkError(t *testing.T) {
	m := testCorpus(t, 3) // 3 studies: 3 batches
	srv, hs := newServer(t, onDisk(m))
	srv.before = func(n int, w http.ResponseWriter, r *http.Request) bool {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return true
		}
		conn.Close()
		return true
	}
	var bar bytes.Buffer
	sum, err := Run(context.Background(), Options{BaseURL: hs.URL, Dir: m.Dir, Concurrency: 1, RetryBackoff: time.Millisecond, Progress: &bar})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (the first batch and one retry)", got)
	}
	if sum.Failed != 12 || len(sum.Groups()) != 1 {
		t.Errorf("summary %+v, groups %+v", sum, sum.Groups())
	}
	if !strings.Contains(bar.String(), "done 0 B") || !strings.Contains(bar.String(), "failed") {
		t.Errorf("progress output %q: want nothing done, all failed", bar.String())
	}
}
