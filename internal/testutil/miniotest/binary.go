package miniotest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ErrNoBinary is returned (wrapped) when the MinIO binary is not installed.
var ErrNoBinary = errors.New("MinIO binary not found")

// BinEnv names the environment variable that may hold the MinIO binary path.
const BinEnv = "IMGCLOUD_MINIO_BIN"

// Binary returns the path of the MinIO binary: $IMGCLOUD_MINIO_BIN if set,
// else $(os.UserCacheDir)/imgcloud/minio-bin/minio, where scripts/minio.sh
// builds it. The error wraps ErrNoBinary when the file is missing.
func Binary() (string, error) {
	path := os.Getenv(BinEnv)
	if path == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("find MinIO binary: %w: %w", ErrNoBinary, err)
		}
		path = filepath.Join(cache, "imgcloud", "minio-bin", "minio")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("find MinIO binary at %s: %w: %w", path, ErrNoBinary, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("find MinIO binary at %s: %w: not an executable file", path, ErrNoBinary)
	}
	return path, nil
}

// InCI reports whether the tests run in CI (CI=true), where a missing MinIO
// binary fails the tests instead of skipping them.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFatal ends the test because a server could not be started: it skips
// with a loud message when the binary is missing outside CI, and fails
// otherwise.
func SkipOrFatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoBinary) && !InCI() {
		t.Skip(SkipMessage(err))
	}
	if errors.Is(err, ErrNoBinary) {
		t.Fatalf("%v\nCI=true, so S3 tests must run: run scripts/minio.sh first or set %s", err, BinEnv)
	}
	t.Fatalf("start MinIO: %v", err)
}

// SkipMessage is the loud message printed when the S3 tests are skipped.
func SkipMessage(err error) string {
	return fmt.Sprintf("\n"+
		"**************************************************************************\n"+
		"*** S3 half SKIPPED: run scripts/test.sh or scripts/minio.sh to build MinIO\n"+
		"*** (%v)\n"+
		"**************************************************************************", err)
}
