package miniotest_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/imgcloud/gateway/internal/testutil/miniotest"
)

// live reports whether the server answers its liveness probe.
func live(s *miniotest.Server) bool {
	resp, err := http.Get("http://" + s.Endpoint + "/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestLifeCycle(t *testing.T) {
	s := miniotest.Start(t)
	if !live(s) {
		t.Fatal("server not live after Start")
	}
	client, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(t.Context(), "kept", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	endpoint := s.Endpoint
	for _, step := range []struct {
		name string
		stop func() error
	}{{"Stop", s.Stop}, {"Kill", s.Kill}} {
		if err := step.stop(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if live(s) {
			t.Fatalf("server live after %s", step.name)
		}
		if err := step.stop(); err != nil {
			t.Fatalf("%s of a stopped server: %v", step.name, err)
		}
		if err := s.Restart(); err != nil {
			t.Fatalf("Restart after %s: %v", step.name, err)
		}
		if !live(s) || s.Endpoint != endpoint {
			t.Fatalf("after Restart: live %v, endpoint %s (was %s)", live(s), s.Endpoint, endpoint)
		}
		ok, err := client.BucketExists(t.Context(), "kept")
		if err != nil || !ok {
			t.Fatalf("bucket after %s and Restart: exists %v, %v", step.name, ok, err)
		}
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart of a running server: %v", err)
	}
	if s.LogTail(5) == "" {
		t.Error("empty log")
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(miniotest.BinEnv, filepath.Join(t.TempDir(), "no-minio"))
	if _, err := miniotest.Binary(); !errors.Is(err, miniotest.ErrNoBinary) {
		t.Fatalf("Binary() error = %v, want ErrNoBinary", err)
	}
	if _, _, err := miniotest.StartMain(); !errors.Is(err, miniotest.ErrNoBinary) {
		t.Fatalf("StartMain() error = %v, want ErrNoBinary", err)
	}
}
