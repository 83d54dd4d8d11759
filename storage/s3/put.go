package s3

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/imgcloud/gateway/storage"
)

// Put streams exactly size bytes from r to key. A body that is shorter
// (error wrapping io.ErrUnexpectedEOF), longer, or fails makes the upload
// fail, and the object is then never created or replaced; but a body longer
// than size is only noticed after its first size bytes, which a single-PUT
// upload may already have committed.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fail("put", key, err)
	}
	body := &body{r: r, size: size, left: size}
	if size == 0 {
		if err := body.checkEnd(); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), body, size, minio.PutObjectOptions{
		ContentType: contentType(key),
		PartSize:    s.partSize,
	})
	switch {
	case body.err != nil:
		// The caller's body failed; the network did not.
		return fmt.Errorf("put %s: %w", key, body.err)
	case err != nil && ctx.Err() != nil:
		return fail("put", key, ctx.Err())
	case err != nil:
		return fail("put", key, err)
	}
	return nil
}

// body yields exactly size bytes of r and records why r failed, so that
// Put can tell the caller's errors from the store's. When the last byte is
// read it checks that r ends there, so the check happens before minio-go
// completes the upload.
type body struct {
	r          io.Reader
	size, left int64
	err        error
}

// Read reads from r, never past size.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		b.err = fmt.Errorf("body ended after %d of %d bytes: %w", b.size-b.left, b.size, io.ErrUnexpectedEOF)
		return n, b.err
	case err != nil && err != io.EOF:
		b.err = fmt.Errorf("read body: %w", err)
		return n, b.err
	case b.left > 0:
		return n, nil
	}
	if err := b.checkEnd(); err != nil {
		return n, err
	}
	return n, io.EOF
}

// checkEnd checks that r has nothing left, recording the error otherwise.
func (b *body) checkEnd() error {
	var one [1]byte
	n, err := io.ReadFull(b.r, one[:])
	switch {
	case n > 0:
		b.err = fmt.Errorf("body longer than %d bytes", b.size)
	case err != io.EOF:
		b.err = fmt.Errorf("read body: %w", err)
	}
	return b.err
}
