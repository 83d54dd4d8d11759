// Package storagetest checks that a storage.Store behaves as the interface
// documents (Run), measures one (Bench), and offers an in-memory Store for
// the unit tests of other packages (NewMemory).
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imgcloud/gateway/storage"
)

// Memory is a storage.Store held in memory, safe for concurrent use. It
// validates keys and bodies as the real stores do, and passes Run.
type Memory struct {
	mu   sync.Mutex
	objs map[string]memObject
}

// memObject is a stored object; data is never modified once stored.
type memObject struct {
	data []byte
	mod  time.Time
}

var _ storage.Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{objs: map[string]memObject{}} }

// Put stores exactly size bytes from r under key.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckKey("put", key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	data := make([]byte, size)
	n, err := io.ReadFull(ctxReader{ctx, r}, data)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("put %s: %w", key, ctx.Err())
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("put %s: body ended after %d of %d bytes: %w", key, n, size, io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("put %s: read body: %w", key, err)
	}
	var probe [1]byte
	if n, err := io.ReadFull(r, probe[:]); n > 0 {
		return fmt.Errorf("put %s: body longer than %d bytes", key, size)
	} else if err != io.EOF {
		return fmt.Errorf("put %s: read body: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = memObject{data: data, mod: time.Now()}
	return nil
}

// Get returns a reader over the clamped range of key.
func (m *Memory) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	o, err := m.object(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	start, n := storage.ClampRange(int64(len(o.data)), offset, length)
	return io.NopCloser(bytes.NewReader(o.data[start : start+n])), nil
}

// Stat returns the size and modification time of key.
func (m *Memory) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	o, err := m.object(ctx, "stat", key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.mod}, nil
}

// object returns the object at key after validating the call.
func (m *Memory) object(ctx context.Context, action, key string) (memObject, error) {
	if err := storage.CheckKey(action, key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, fmt.Errorf("%s %s: %w", action, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return memObject{}, fmt.Errorf("%s %s: %w", action, key, storage.ErrNotFound)
	}
	return o, nil
}

// Delete removes key if present.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := storage.CheckKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

// List calls fn, without holding the lock, for a snapshot of the objects
// whose key starts with prefix, in key order.
func (m *Memory) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	m.mu.Lock()
	var infos []storage.ObjectInfo
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, storage.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.mod})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(infos, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads from the underlying reader unless ctx is done.
func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
