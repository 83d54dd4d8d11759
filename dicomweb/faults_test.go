package dicomweb_test

import (
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage/s3"
)

// TestMinIOStoppedMidSTOW stops a real MinIO while a STOW request is being
// streamed: the answer is a 503, no instance is half-indexed, and once
// MinIO is back the same request succeeds and nothing acknowledged before
// is lost.
func TestMinIOStoppedMidSTOW(t *testing.T) {
	man := testCorpus(t)
	srv := miniotest.Start(t)
	store, err := s3.Open(t.Context(), s3.Config{Endpoint: srv.Endpoint, Bucket: "dicom", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, store, gwtest.Options{})

	// Acknowledged before the outage.
	first := man.Studies()[0]
	var firstPaths []string
	for _, f := range first.Files() {
		firstPaths = append(firstPaths, man.Abs(f))
	}
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, firstPaths...)); resp.StatusCode != 200 {
		t.Fatalf("STOW before outage: %d %s", resp.StatusCode, body)
	}

	second := man.Studies()[1].Files()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for i, f := range second {
			w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
			b, _ := os.ReadFile(man.Abs(f))
			if i == 1 {
				// The first part has been read by the gateway: stop MinIO.
				time.Sleep(300 * time.Millisecond)
				if err := srv.Stop(); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			if _, err := w.Write(b); err != nil {
				return
			}
		}
		mw.Close()
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", gw.URL+"/studies", pr)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "unavailable") {
		t.Fatalf("STOW during outage: %d %s, want 503 naming the store", resp.StatusCode, body)
	}
	// No index row for an instance whose object was not stored.
	for _, f := range second[1:] {
		if _, err := gw.DB.InstanceBySOP(f.SOPUID); err == nil {
			t.Fatalf("instance %s indexed although its object was not stored", f.SOPUID)
		}
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range second {
		paths = append(paths, man.Abs(f))
	}
	var last int
	for i := 0; i < 50; i++ { // MinIO may need a moment after its health check
		resp, body = gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, paths...))
		if last = resp.StatusCode; last == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != 200 {
		t.Fatalf("STOW after MinIO came back: %d %s", last, body)
	}
	for _, f := range append(first.Files(), second...) {
		want, _ := os.ReadFile(man.Abs(f))
		assertInstanceBytes(t, gw, f, want)
	}
}

// TestPresignedRedirect answers WADO-URI with a redirect to a presigned
// MinIO URL whose bytes are the instance's.
func TestPresignedRedirect(t *testing.T) {
	man := testCorpus(t)
	srv := miniotest.Start(t)
	store, err := s3.Open(t.Context(), s3.Config{Endpoint: srv.Endpoint, Bucket: "dicom", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, store, gwtest.Options{PresignRedirect: time.Minute})
	f := man.Files[0]
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, man.Abs(f))); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(gw.URL + "/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + "&contentType=application/dicom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("want a 307 to a presigned URL, got %d %q", resp.StatusCode, loc)
	}
	r2, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	want, _ := os.ReadFile(man.Abs(f))
	if r2.StatusCode != 200 || string(got) != string(want) {
		t.Fatalf("presigned download: %d, equal %v", r2.StatusCode, string(got) == string(want))
	}
}
