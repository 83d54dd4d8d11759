// Package storage defines the object store the gateway keeps its source of
// truth in: DICOM instances and the domain records that are not inside them.
// Implementations live in storage/file (a local folder, the default) and
// storage/s3 (MinIO or any S3); both pass storage/storagetest.
package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("object not found")

// ErrUnavailable is returned (wrapped) when the backing store cannot be
// reached or refuses the request for a reason that is not the caller's fault
// (network down, server stopped, disk full). The HTTP layer maps it to 503.
var ErrUnavailable = errors.New("object store unavailable")

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is a flat key/value object store. Keys are slash-separated paths
// made only of characters that are safe in both file names and S3 keys;
// callers validate them (see ValidKey).
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// object there. The object is durable when Put returns nil, and is never
	// visible half-written.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key for reading from offset; length < 0 reads to the end.
	// A range past the end of the object is clamped to it.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat returns the object's size without reading it.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order, stopping at the first error fn returns.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// ErrNoRetention is returned (wrapped) by Retainer.PutRetained when the
// store cannot keep objects immutable (an S3 bucket without object lock).
var ErrNoRetention = errors.New("object lock not enabled")

// Retainer is implemented by stores that can write an object no one may
// delete or overwrite before a date (S3 object lock, compliance mode). The
// audit trail writes its checkpoints so where it can.
type Retainer interface {
	PutRetained(ctx context.Context, key string, r io.Reader, size int64, until time.Time) error
}

// ErrCannotMove is returned by Mover.MoveIn when the file cannot be moved
// (another volume): the caller then copies it with Put.
var ErrCannotMove = errors.New("cannot move the file into the store")

// Mover is implemented by stores that can adopt a local file as an object
// without copying it (the folder store renames it into place), or write
// one without waiting for the disk. Such objects are durable only after
// Sync, which makes all of them durable at once (group commit).
type Mover interface {
	MoveIn(ctx context.Context, key string, f *os.File, size int64) error
	WriteIn(ctx context.Context, key string, data []byte) error
	Sync(ctx context.Context) error
}
