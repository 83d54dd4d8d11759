// Package s3 implements storage.Store on an S3 bucket (MinIO or any S3)
// with minio-go.
//
// Puts stream: objects up to the part size go in one PUT, larger ones in a
// multipart upload of part-size buffers, which S3 makes visible only when
// complete. Network failures, 5xx responses and refused credentials come
// back wrapping storage.ErrUnavailable.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/imgcloud/gateway/storage"
)

// Defaults for the zero values of Config.
const (
	// DefaultPartSize is the part size of multipart uploads.
	DefaultPartSize = 16 << 20
	// DefaultMaxRetries is the number of attempts per request.
	DefaultMaxRetries = 3
	// DefaultDialTimeout bounds connecting to the endpoint.
	DefaultDialTimeout = 5 * time.Second
)

// S3 limits on the part size of multipart uploads.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// Config says where the bucket is and how to reach it.
type Config struct {
	// Endpoint is host:port without a scheme, e.g. "127.0.0.1:9000".
	Endpoint string
	// Bucket is created by Open if absent.
	Bucket    string
	AccessKey string
	SecretKey string
	// Region is optional; empty lets the client discover it.
	Region string
	// UseTLS selects https.
	UseTLS bool
	// PathStyle forces path-style requests (http://host/bucket/key), which
	// MinIO and most self-hosted stores want; false lets the client choose.
	PathStyle bool
	// Prefix is prepended to every key, so several stores can share a
	// bucket: "gateway" stores "studies/..." as "gateway/studies/...".
	Prefix string
	// PartSize is the multipart part size, and the size above which Put
	// switches to multipart; each such Put buffers one part. 0 means 16 MiB.
	PartSize uint64
	// MaxRetries is the number of attempts per request, the first included;
	// 1 disables retries and 0 means 3. Streamed single-request bodies are
	// never retried.
	MaxRetries int
	// DialTimeout bounds connecting to the endpoint; 0 means 5 s.
	DialTimeout time.Duration
	// ObjectLock creates the bucket, when Open creates it, with S3 object
	// lock (and so versioning), which PutRetained needs. An existing
	// bucket is used as it is.
	ObjectLock bool
}

// Store is a storage.Store in an S3 bucket, safe for concurrent use.
type Store struct {
	client    *minio.Client
	core      minio.Core
	transport *http.Transport
	bucket    string
	prefix    string // "" or ending in "/"
	partSize  uint64
	objLock   bool // create the bucket with object lock

	lockMu    sync.Mutex // guards lockKnown and locked
	lockKnown bool
	locked    bool // the bucket has object lock
}

var _ storage.Store = (*Store)(nil)

// Open connects to the endpoint, checks the credentials and creates the
// bucket if it does not exist. Errors say which step failed at which
// endpoint; unreachable endpoints and refused credentials wrap
// storage.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("s3 open: %w", err)
	}
	tr, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil {
		return nil, fmt.Errorf("s3 open: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.UseTLS,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 open: endpoint %s: %w", cfg.Endpoint, err)
	}
	s := &Store{
		client:    client,
		core:      minio.Core{Client: client},
		transport: tr,
		bucket:    cfg.Bucket,
		prefix:    cfg.Prefix,
		partSize:  cfg.PartSize,
		objLock:   cfg.ObjectLock,
	}
	if err := s.ensureBucket(ctx, cfg.Endpoint, cfg.Region); err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("s3 open: %w", err)
	}
	return s, nil
}

// fill validates cfg and applies the defaults.
func (cfg *Config) fill() error {
	switch {
	case cfg.Endpoint == "":
		return errors.New("no endpoint")
	case strings.Contains(cfg.Endpoint, "://"):
		return fmt.Errorf("endpoint %q: give host:port without a scheme (and UseTLS for https)", cfg.Endpoint)
	case cfg.Bucket == "":
		return errors.New("no bucket")
	case s3utils.CheckValidBucketNameStrict(cfg.Bucket) != nil:
		return fmt.Errorf("bucket %q: %w", cfg.Bucket, s3utils.CheckValidBucketNameStrict(cfg.Bucket))
	case cfg.PartSize != 0 && (cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize):
		return fmt.Errorf("part size %d outside [5 MiB, 5 GiB]", cfg.PartSize)
	case cfg.MaxRetries < 0:
		return fmt.Errorf("negative MaxRetries %d", cfg.MaxRetries)
	}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		if !storage.ValidKey(p) {
			return fmt.Errorf("prefix %q: %w", cfg.Prefix, storage.ErrInvalidKey)
		}
		cfg.Prefix = p + "/"
	} else {
		cfg.Prefix = ""
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	return nil
}

// ensureBucket checks that the bucket is reachable and creates it if absent.
func (s *Store) ensureBucket(ctx context.Context, endpoint, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	// A MinIO that has just started answers "not initialized" for a few
	// seconds after its health check passes: wait for it, within ctx.
	for i := 0; err != nil && minio.ToErrorResponse(err).Code == "XMinioServerNotInitialized" && i < 40; i++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bucket check at %s: %w", endpoint, classify(ctx.Err()))
		case <-time.After(250 * time.Millisecond):
		}
		exists, err = s.client.BucketExists(ctx, s.bucket)
	}
	if err != nil {
		return fmt.Errorf("bucket check at %s: %w", endpoint, classify(err))
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: s.objLock})
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return fmt.Errorf("create bucket %s at %s: %w", s.bucket, endpoint, classify(err))
	}
	return nil
}

// Close releases idle connections. The store must not be used afterwards.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// object returns the object name of key in the bucket.
func (s *Store) object(key string) string { return s.prefix + key }

// contentType is the Content-Type stored with key.
func contentType(key string) string {
	if strings.HasSuffix(key, ".dcm") {
		return "application/dicom"
	}
	return "application/octet-stream"
}
