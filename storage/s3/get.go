package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/imgcloud/gateway/storage"
)

// Get opens length bytes of key from offset (length < 0: to the end),
// clamped to the object. It makes the request before returning, so a
// missing key or an unreachable server is reported by Get itself; the
// reader then streams the response body. ctx governs the whole read.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckKey("get", key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("get", key, err)
	}
	if length == 0 {
		return s.empty(ctx, key)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		opts.SetRange(offset, offset+length-1)
	case offset > 0:
		opts.SetRange(offset, 0) // "bytes=offset-", to the end
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.object(key), opts)
	if err != nil {
		// S3 answers 416 to a range starting at or past the end.
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			return s.empty(ctx, key)
		}
		return nil, fail("get", key, err)
	}
	return &reader{rc: rc, key: key}, nil
}

// empty returns an empty reader if key exists.
func (s *Store) empty(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{}); err != nil {
		return nil, fail("get", key, err)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// reader is a response body whose failures wrap storage.ErrUnavailable.
type reader struct {
	rc  io.ReadCloser
	key string
}

// Read reads the body; io.EOF is returned as is.
func (r *reader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("get %s: read: %w", r.key, classify(err))
	}
	return n, err
}

// Close closes the body.
func (r *reader) Close() error { return r.rc.Close() }

// Stat returns the size and modification time of key.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := storage.CheckKey("stat", key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, fail("stat", key, err)
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return storage.ObjectInfo{}, fail("stat", key, err)
	}
	return storage.ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// PresignGet returns a URL that lets anyone holding it GET key until expiry
// (at most 7 days), for redirecting clients to the store. It does not check
// that key exists.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (*url.URL, error) {
	if err := storage.CheckKey("presign", key); err != nil {
		return nil, err
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.object(key), expiry, nil)
	if err != nil {
		return nil, fail("presign", key, err)
	}
	return u, nil
}
