package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/storage"
)

// CachePrefix is the key prefix of derived objects (rendered thumbnails and
// the like). Everything under it can be deleted at any time: it is rebuilt
// on demand, and reindex ignores it.
const CachePrefix = "cache/"

// maxCachedObject bounds what CachedGet reads into memory.
const maxCachedObject = 16 << 20

// cacheKey checks key (relative to CachePrefix) and returns the full key.
func cacheKey(key string) (string, error) {
	full := CachePrefix + key
	if !storage.ValidKey(full) {
		return "", invalid("cache key", "%q is not a valid object key", key)
	}
	return full, nil
}

// CachedGet returns the derived object stored under CachePrefix+key,
// wrapping ErrNotFound when there is none. The object is read whole (it is
// at most 16 MiB), so a storage failure surfaces here and not halfway
// through an answer.
func (s *Service) CachedGet(ctx context.Context, key string) (io.ReadCloser, error) {
	full, err := cacheKey(key)
	if err != nil {
		return nil, err
	}
	rc, err := s.store.Get(ctx, full, 0, maxCachedObject+1)
	if err != nil {
		return nil, mapStoreErr(fmt.Errorf("cache get %s: %w", full, err))
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, mapStoreErr(fmt.Errorf("cache get %s: %w", full, err))
	}
	if len(b) > maxCachedObject {
		return nil, fmt.Errorf("cache get %s: object larger than %d bytes", full, maxCachedObject)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// CachePut stores a derived object under CachePrefix+key, replacing any
// object there.
func (s *Service) CachePut(ctx context.Context, key string, b []byte) error {
	full, err := cacheKey(key)
	if err != nil {
		return err
	}
	if len(b) > maxCachedObject {
		return invalid("cache object", "%d bytes is more than the %d a cached object may hold", len(b), maxCachedObject)
	}
	if err := s.store.Put(ctx, full, bytes.NewReader(b), int64(len(b))); err != nil {
		return mapStoreErr(fmt.Errorf("cache put %s: %w", full, err))
	}
	return nil
}
