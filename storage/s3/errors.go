package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/imgcloud/gateway/storage"
)

// S3 error codes that mean the server cannot serve now.
var unavailableCodes = map[string]bool{
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"SlowDown":                   true,
	"SlowDownRead":               true,
	"SlowDownWrite":              true,
	"RequestTimeout":             true,
	"XMinioServerNotInitialized": true,
	"XMinioStorageFull":          true,
	"XMinioReadQuorum":           true,
	"XMinioWriteQuorum":          true,
}

// S3 error codes that mean the credentials are refused.
var credentialCodes = map[string]bool{
	minio.AccessDenied:          true,
	minio.InvalidAccessKeyID:    true,
	minio.SignatureDoesNotMatch: true,
	"InvalidToken":              true,
	"ExpiredToken":              true,
}

// classify maps an error from minio-go: missing key or bucket to
// storage.ErrNotFound; refused credentials, 5xx, network failures and
// deadlines to storage.ErrUnavailable (keeping the cause); cancellation and
// anything else unchanged.
func classify(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == minio.NoSuchKey:
			return storage.ErrNotFound
		case resp.Code == minio.NoSuchBucket:
			return fmt.Errorf("no such bucket %s: %w", resp.BucketName, storage.ErrNotFound)
		case credentialCodes[resp.Code]:
			return fmt.Errorf("access denied (check access key / secret): %w: %w", storage.ErrUnavailable, err)
		case unavailableCodes[resp.Code] || resp.StatusCode >= 500:
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	if isNetwork(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// isNetwork reports whether err comes from the connection rather than from
// a response: dial and I/O errors, timeouts, and a connection cut mid-body.
func isNetwork(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// fail wraps err from the action on key. A missing bucket is "not found"
// for reads, but for writes it means the store is misconfigured or gone.
func fail(action, key string, err error) error {
	err = classify(err)
	if action != "get" && action != "stat" && errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s %s: %w: %w", action, key, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", action, key, err)
}
