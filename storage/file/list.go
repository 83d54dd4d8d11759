package file

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/storage"
)

// List calls fn for every object whose key starts with prefix, in lexical
// key order. It streams: one directory is read at a time, its entries sorted
// as their keys sort (a directory "b" as "b/", so the file "b-c" comes
// before everything under "b/"), and directories that cannot hold a match
// are not read. Objects created or deleted during the walk may or may not
// be seen.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	if !storage.ValidPrefix(prefix) {
		return nil // matches no key, and must not reach the disk
	}
	// Start in the deepest directory the prefix names whole.
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	}
	return s.walk(ctx, base, prefix, fn)
}

// entry is a directory entry with the string it sorts by among its siblings.
type entry struct {
	name  string
	isDir bool
	sort  string
}

// walk lists the directory of key rel ("" for the root) recursively.
func (s *Store) walk(ctx context.Context, rel, prefix string, fn func(storage.ObjectInfo) error) error {
	dir := s.root
	if rel != "" {
		dir = s.path(rel)
	}
	des, err := os.ReadDir(dir)
	if isNotExist(err) {
		return nil // no such prefix, or removed by a concurrent Delete
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, classify(err))
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		// Skips temporary files ('~'), foreign names and symlinks.
		if !storage.ValidKey(name) || !de.IsDir() && !de.Type().IsRegular() {
			continue
		}
		e := entry{name: name, isDir: de.IsDir(), sort: name}
		if e.isDir {
			e.sort += "/"
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.sort, b.sort) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		key := e.name
		if rel != "" {
			key = rel + "/" + e.name
		}
		if e.isDir {
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				continue
			}
			if err := s.walk(ctx, key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		fi, err := os.Stat(s.path(key))
		if isNotExist(err) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, classify(err))
		}
		if err := fn(storage.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}
