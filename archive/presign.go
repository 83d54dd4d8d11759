package archive

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Presigner is implemented by object stores that can hand out short-lived
// URLs for direct downloads (storage/s3).
type Presigner interface {
	PresignGet(ctx context.Context, key string, expiry time.Duration) (*url.URL, error)
}

// PresignedURL returns a short-lived URL to download an instance straight
// from object storage, or ok=false when the store cannot presign or
// presigning is off (expiry <= 0). The caller has already checked access.
func (s *Service) PresignedURL(ctx context.Context, in *Instance, expiry time.Duration) (u *url.URL, ok bool, err error) {
	p, can := s.store.(Presigner)
	if !can || expiry <= 0 {
		return nil, false, nil
	}
	u, err = p.PresignGet(ctx, in.Key, expiry)
	if err != nil {
		return nil, false, mapStoreErr(fmt.Errorf("presign %s: %w", in.SOP, err))
	}
	return u, true, nil
}
