package s3

import (
	"context"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/imgcloud/gateway/storage"
)

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fail("delete", key, err)
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fail("delete", key, err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in key
// order, as the bucket listing returns them page by page. Objects in the
// bucket whose names are not valid keys are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fail("list", prefix, err)
	}
	if !storage.ValidPrefix(prefix) {
		return nil // matches no key
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn fails
	objects := s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.prefix + prefix,
		Recursive: true,
	})
	for obj := range objects {
		if obj.Err != nil {
			return fail("list", prefix, obj.Err)
		}
		key := strings.TrimPrefix(obj.Key, s.prefix)
		if !storage.ValidKey(key) {
			continue
		}
		if err := fn(storage.ObjectInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	// The listing ends silently when ctx is cancelled.
	if err := ctx.Err(); err != nil {
		return fail("list", prefix, err)
	}
	return nil
}
