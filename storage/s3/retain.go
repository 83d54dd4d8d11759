package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/imgcloud/gateway/storage"
)

var _ storage.Retainer = (*Store)(nil)

// PutRetained stores a small object under S3 object lock in compliance
// mode until the date given: no one, the bucket's owner included, can
// delete or overwrite that version before then. A bucket created without
// object lock answers storage.ErrNoRetention (see Config.ObjectLock).
// Object lock keeps versions: a later Put or Delete of the same key still
// hides this version from Get and List, but cannot remove it.
func (s *Store) PutRetained(ctx context.Context, key string, r io.Reader, size int64, until time.Time) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	locked, err := s.objectLocked(ctx)
	if err != nil {
		return err
	}
	if !locked {
		return fmt.Errorf("put %s: bucket %s: %w", key, s.bucket, storage.ErrNoRetention)
	}
	// Object lock requires a checksum of the body: read it (these objects
	// are small) so that minio-go can send its MD5.
	b, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if int64(len(b)) != size {
		return fmt.Errorf("put %s: body of %d bytes, size says %d: %w", key, len(b), size, io.ErrUnexpectedEOF)
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(b), size, minio.PutObjectOptions{
		ContentType: contentType(key), Mode: minio.Compliance, RetainUntilDate: until.UTC(), SendContentMd5: true,
	})
	if err != nil {
		return fail("put", key, err)
	}
	return nil
}

// objectLocked asks the bucket once whether it has object lock (a failed
// question is asked again next time).
func (s *Store) objectLocked(ctx context.Context) (bool, error) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if !s.lockKnown {
		enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
		if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
			return false, fail("object lock of", s.bucket, err)
		}
		s.lockKnown, s.locked = true, enabled == "Enabled"
	}
	return s.locked, nil
}
