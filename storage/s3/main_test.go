package s3_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage/s3"
)

// The MinIO server shared by the package's tests, started in TestMain.
var (
	shared    *miniotest.Server
	sharedErr error
	bucketSeq atomic.Int64
)

func TestMain(m *testing.M) {
	srv, stop, err := miniotest.StartMain()
	if errors.Is(err, miniotest.ErrNoBinary) && !miniotest.InCI() {
		fmt.Fprintln(os.Stderr, miniotest.SkipMessage(err))
	}
	shared, sharedErr = srv, err
	code := m.Run()
	if code != 0 && srv != nil {
		fmt.Fprintf(os.Stderr, "MinIO log tail:\n%s\n", srv.LogTail(40))
	}
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// server returns the shared server, or skips (fails in CI) without one.
func server(t testing.TB) *miniotest.Server {
	t.Helper()
	if sharedErr != nil {
		miniotest.SkipOrFatal(t, sharedErr)
	}
	return shared
}

// config returns the configuration of a new bucket on srv.
func config(srv *miniotest.Server) s3.Config {
	return s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    fmt.Sprintf("test-%d-%s", bucketSeq.Add(1), strings.ToLower(rand.Text()[:8])),
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		PathStyle: true,
	}
}

// open opens cfg and closes the store when t ends.
func open(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
