// Package records keeps the gateway's domain records (institutions,
// catalogue items, decisions, consents, shares, ...) as JSON, written to
// object storage first (the source of truth, under records/{kind}/{id}.json)
// and to the index second (for fast reads). Rebuild restores the index from
// object storage after a reindex.
package records

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("record not found")
	ErrExists   = errors.New("record already exists")
	ErrInvalid  = errors.New("invalid record id")
)

// Store reads and writes records.
type Store struct {
	obj storage.Store
	db  KV
}

// KV is what records need of the index (index.Store implements it).
type KV interface {
	PutRecord(kind, id string, v []byte) error
	CreateRecord(kind, id string, v []byte) error
	GetRecord(kind, id string) ([]byte, error)
	DeleteRecord(kind, id string) error
	Records(kind string, fn func(id string, v []byte) error) error
	UpdateRecord(kind, id string, fn func(old []byte) ([]byte, error)) error
	CheckSpace() error
}

// New returns a record store over object storage and the index.
func New(obj storage.Store, db KV) *Store { return &Store{obj: obj, db: db} }

// ValidID reports whether s is usable as a record id or kind: letters,
// digits, '.', '_' and '-', at most 200 characters, not "." or "..", so it
// is safe in object keys and file paths.
func ValidID(s string) bool {
	if s == "" || len(s) > 200 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

func check(kind, id string) error {
	if !ValidID(kind) || !ValidID(id) {
		return fmt.Errorf("%w: %q/%q (letters, digits, '.', '_' and '-' only)", ErrInvalid, kind, id)
	}
	return nil
}

// Put writes v under kind/id, replacing an earlier record.
func (s *Store) Put(ctx context.Context, kind, id string, v any) error {
	b, err := s.write(ctx, kind, id, v)
	if err != nil {
		return err
	}
	return s.db.PutRecord(kind, id, b)
}

// ErrUnchanged, returned by an Update's fn, ends the update storing
// nothing; Update then returns nil.
var ErrUnchanged = errors.New("record unchanged")

// Update decodes kind/id into v, lets fn change v, and stores v (object
// storage, then the index) with no other Update of the record in between,
// in this process or in another gateway on the same index: the index
// holds the record's lock (replicas on PostgreSQL count a share link's
// uses once). fn may run more than once, each time on a fresh v. An error
// from fn stores nothing and is returned (ErrUnchanged: nil); a missing
// record is ErrNotFound.
func (s *Store) Update(ctx context.Context, kind, id string, v any, fn func() error) error {
	if err := check(kind, id); err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("update %s/%s: v must be a non-nil pointer", kind, id)
	}
	err := s.db.UpdateRecord(kind, id, func(old []byte) ([]byte, error) {
		rv.Elem().SetZero() // what an earlier attempt decoded must not linger
		if err := json.Unmarshal(old, v); err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", kind, id, err)
		}
		if err := fn(); err != nil {
			return nil, err
		}
		return s.write(ctx, kind, id, v)
	})
	switch {
	case errors.Is(err, ErrUnchanged):
		return nil
	case errors.Is(err, index.ErrNotFound):
		return fmt.Errorf("%s/%s: %w", kind, id, ErrNotFound)
	}
	return err
}

// Create writes v under kind/id only if nothing is there: records such as
// physician decisions are immutable.
func (s *Store) Create(ctx context.Context, kind, id string, v any) error {
	if err := check(kind, id); err != nil {
		return err
	}
	if _, err := s.db.GetRecord(kind, id); err == nil {
		return fmt.Errorf("%s/%s: %w", kind, id, ErrExists)
	}
	if _, err := s.obj.Stat(ctx, storage.RecordKey(kind, id)); err == nil {
		return fmt.Errorf("%s/%s: %w", kind, id, ErrExists)
	}
	b, err := s.write(ctx, kind, id, v)
	if err != nil {
		return err
	}
	if err := s.db.CreateRecord(kind, id, b); err != nil {
		if errors.Is(err, index.ErrExists) {
			return fmt.Errorf("%s/%s: %w", kind, id, ErrExists)
		}
		return err
	}
	return nil
}

func (s *Store) write(ctx context.Context, kind, id string, v any) ([]byte, error) {
	if err := check(kind, id); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", kind, id, err)
	}
	// Refuse before the object is written, so that a full index volume
	// leaves no record in object storage that the index lacks.
	if err := s.db.CheckSpace(); err != nil {
		return nil, fmt.Errorf("write %s/%s: %w", kind, id, err)
	}
	if err := s.obj.Put(ctx, storage.RecordKey(kind, id), bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, fmt.Errorf("write %s/%s: %w", kind, id, err)
	}
	return b, nil
}

// Get decodes the record kind/id into v.
func (s *Store) Get(ctx context.Context, kind, id string, v any) error {
	if err := check(kind, id); err != nil {
		return err
	}
	b, err := s.db.GetRecord(kind, id)
	if errors.Is(err, index.ErrNotFound) {
		return fmt.Errorf("%s/%s: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Delete removes kind/id from the index, then from object storage.
func (s *Store) Delete(ctx context.Context, kind, id string) error {
	if err := check(kind, id); err != nil {
		return err
	}
	if err := s.db.DeleteRecord(kind, id); err != nil {
		return err
	}
	return s.obj.Delete(ctx, storage.RecordKey(kind, id))
}

// List calls fn with the raw JSON of every record of a kind, in id order.
func (s *Store) List(ctx context.Context, kind string, fn func(id string, raw []byte) error) error {
	if !ValidID(kind) {
		return fmt.Errorf("%w: kind %q", ErrInvalid, kind)
	}
	return s.db.Records(kind, fn)
}

// Rebuild copies every record from object storage into the index.
func (s *Store) Rebuild(ctx context.Context) (int, error) {
	n := 0
	err := s.obj.List(ctx, "records/", func(oi storage.ObjectInfo) error {
		rest, ok := strings.CutPrefix(oi.Key, "records/")
		kind, file, ok2 := strings.Cut(rest, "/")
		id, ok3 := strings.CutSuffix(file, ".json")
		if !ok || !ok2 || !ok3 || check(kind, id) != nil {
			return nil
		}
		rc, err := s.obj.Get(ctx, oi.Key, 0, -1)
		if err != nil {
			return fmt.Errorf("read %s: %w", oi.Key, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", oi.Key, err)
		}
		if !json.Valid(b) {
			return fmt.Errorf("record %s is not valid JSON", oi.Key)
		}
		n++
		return s.db.PutRecord(kind, id, b)
	})
	return n, err
}
