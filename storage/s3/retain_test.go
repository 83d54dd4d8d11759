package s3_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/imgcloud/gateway/storage"
)

// TestPutRetained writes an object under object lock on a real MinIO: it
// reads back, and its version cannot be deleted, even with the owner's
// credentials; a bucket without object lock says so.
func TestPutRetained(t *testing.T) {
	srv := server(t)
	ctx := t.Context()
	cfg := config(srv)
	cfg.ObjectLock = true
	s := open(t, cfg)
	body := []byte(`{"seq":20}`)
	if err := s.PutRetained(ctx, "audit-anchors/0000000000000020.json", bytes.NewReader(body), int64(len(body)), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "audit-anchors/0000000000000020.json", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("read back %q", got)
	}
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	oi, err := mc.StatObject(ctx, cfg.Bucket, "audit-anchors/0000000000000020.json", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveObject(ctx, cfg.Bucket, oi.Key, minio.RemoveObjectOptions{VersionID: oi.VersionID, GovernanceBypass: true}); err == nil {
		t.Fatal("the owner deleted a retained version")
	}

	plain := open(t, config(srv))
	err = plain.PutRetained(ctx, "audit-anchors/0000000000000020.json", bytes.NewReader(body), int64(len(body)), time.Now().Add(time.Hour))
	if !errors.Is(err, storage.ErrNoRetention) {
		t.Fatalf("bucket without object lock: %v, want ErrNoRetention", err)
	}
}
