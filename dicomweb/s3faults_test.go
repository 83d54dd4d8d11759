package dicomweb_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/faultproxy"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage/s3"
)

func studyParts(t *testing.T, man *corpus.Manifest, st corpus.Study) []gwtest.Part {
	var paths []string
	for _, f := range st.Files() {
		paths = append(paths, man.Abs(f))
	}
	return gwtest.FileParts(t, paths...)
}

// TestS3Faults puts a fault-injecting TCP proxy between the gateway and a
// real MinIO: latency, connections reset mid-upload and a bucket deleted
// behind the gateway's back. No false 200, clear 503s, recovery without a
// restart, and goroutines back to their baseline afterwards.
func TestS3Faults(t *testing.T) {
	man := testCorpus(t)
	studies := man.Studies()
	srv := miniotest.Start(t)
	px, err := faultproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	store, err := s3.Open(t.Context(), s3.Config{Endpoint: px.Addr, Bucket: "dicom", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, store, gwtest.Options{})
	stow := func(st corpus.Study) (int, string) {
		resp, body := gwtest.Stow(t, gw.URL+"/studies", studyParts(t, man, st))
		return resp.StatusCode, string(body)
	}
	settle := func() int {
		http.DefaultClient.CloseIdleConnections()
		time.Sleep(300 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	if code, body := stow(studies[0]); code != 200 {
		t.Fatalf("baseline STOW: %d %s", code, body)
	}
	base := settle()

	t.Run("latency", func(t *testing.T) {
		px.SetDelay(5 * time.Millisecond)
		defer px.SetDelay(0)
		if code, body := stow(studies[1]); code != 200 {
			t.Fatalf("slow store: %d %s", code, body)
		}
	})
	t.Run("reset mid-upload", func(t *testing.T) {
		px.SetResetAfter(8 << 10)
		code, body := stow(studies[2])
		px.SetResetAfter(0)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("connections reset: %d %s, want 503", code, body)
		}
		for _, f := range studies[2].Files() {
			if in, err := gw.DB.InstanceBySOP(f.SOPUID); err == nil {
				// Anything indexed must be complete in the store.
				if oi, err := store.Stat(context.Background(), in.Key); err != nil || oi.Size != f.Size {
					t.Fatalf("indexed %s without its whole object: %v", f.SOPUID, err)
				}
			}
		}
		if code, body := stow(studies[2]); code != 200 {
			t.Fatalf("after the resets stopped, without a restart: %d %s", code, body)
		}
	})
	t.Run("refused connections", func(t *testing.T) {
		px.SetRefuse(true)
		code, body := stow(studies[3])
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
			t.Fatalf("store unreachable: %d %s", code, body)
		}
		if resp, _ := gwtest.Do(t, "GET", strings.TrimSuffix(gw.URL, "/dicomweb")+"/readyz", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("readyz while the store is unreachable: %d", resp.StatusCode)
		}
		px.SetRefuse(false)
		if code, body := stow(studies[3]); code != 200 {
			t.Fatalf("after the store came back: %d %s", code, body)
		}
	})
	t.Run("bucket deleted", func(t *testing.T) {
		mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := mc.MakeBucket(ctx, "other", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		other, err := s3.Open(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: "other", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		gw2 := gwtest.Start(t, other, gwtest.Options{})
		if err := mc.RemoveBucket(ctx, "other"); err != nil {
			t.Fatal(err)
		}
		resp, body := gwtest.Stow(t, gw2.URL+"/studies", studyParts(t, man, studies[4]))
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("bucket missing: %d %s", resp.StatusCode, body)
		}
		if err := mc.MakeBucket(ctx, "other", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		if resp, body := gwtest.Stow(t, gw2.URL+"/studies", studyParts(t, man, studies[4])); resp.StatusCode != 200 {
			t.Fatalf("bucket back: %d %s", resp.StatusCode, body)
		}
	})
	// Nothing acknowledged was lost on the main gateway.
	for _, st := range studies[:4] {
		for _, f := range st.Files() {
			want, _ := os.ReadFile(man.Abs(f))
			assertInstanceBytes(t, gw, f, want)
		}
	}
	var now int
	for i := 0; i < 20; i++ {
		if now = settle(); now <= base+4 {
			break
		}
	}
	if now > base+4 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d after the faults, baseline %d:\n%s", now, base, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("goroutines: baseline %d, after faults %d", base, now)
}
