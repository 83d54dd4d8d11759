package storage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned (wrapped) when a key fails ValidKey. Stores
// refuse such keys before touching the backend; the HTTP layer maps it to 400.
var ErrInvalidKey = errors.New("invalid object key")

// CheckKey returns nil when key is valid and otherwise an error wrapping
// ErrInvalidKey that names the action, such as `put "../x": invalid object key`.
func CheckKey(action, key string) error {
	if ValidKey(key) {
		return nil
	}
	return fmt.Errorf("%s %q: %w", action, key, ErrInvalidKey)
}

// ClampRange turns the offset and length given to Store.Get into the start
// and byte count to read from an object of size bytes: length < 0 means to
// the end, and a range past the end is clamped to it (possibly to 0 bytes).
// A negative offset is treated as 0; stores reject it before calling this.
func ClampRange(size, offset, length int64) (start, n int64) {
	start = min(max(offset, 0), size)
	n = size - start
	if length >= 0 && length < n {
		n = length
	}
	return start, n
}

// ValidPrefix reports whether some valid key starts with prefix: "" does,
// and so does any prefix whose complete segments are valid and whose
// characters are all allowed in keys. Stores answer a List of any other
// prefix with nothing, without asking their backend.
func ValidPrefix(prefix string) bool {
	if prefix == "" {
		return true
	}
	if len(prefix) > 1024 || strings.HasPrefix(prefix, "/") {
		return false
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	last := segs[len(segs)-1]
	return last == "" || ValidKey("x"+last)
}
