package file_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// open returns a store in a fresh directory.
func open(t testing.TB) *file.Store {
	t.Helper()
	s, err := file.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t) })
}

// tree returns every path below dir, slash-separated, in walk order.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel != "." {
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestInvalidKeysStayInside(t *testing.T) {
	parent := t.TempDir()
	s, err := file.Open(filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, key := range []string{"../x", "../store2/x", "/abs", "/" + filepath.Join(parent, "abs"), "a//b", "a/../../x", "./x", "a/.", ".."} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := tree(t, parent); !slices.Equal(got, []string{"store"}) {
		t.Fatalf("files created: %q", got)
	}
}

func TestFailedPutLeavesNoTempFiles(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if err := s.Put(ctx, "a/b/keep.dcm", strings.NewReader("keep"), 4); err != nil {
		t.Fatal(err)
	}
	bodies := []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"short", strings.NewReader("abc"), 10},
		{"long", strings.NewReader("abcdefghijk"), 10},
		{"error", io.MultiReader(strings.NewReader("abc"), errorReader{}), 10},
		{"large short", storagetest.RandomReader(3, 3<<20), 4 << 20},
	}
	for _, b := range bodies {
		for _, key := range []string{"a/b/keep.dcm", "a/b/new.dcm", "x/y/z/new.dcm"} {
			if err := s.Put(ctx, key, b.r, b.size); err == nil {
				t.Fatalf("Put(%q) of a %s body: no error", key, b.name)
			}
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	r := storagetest.HookReader(storagetest.RandomReader(1, 1<<20), 300<<10, cancel)
	if err := s.Put(cctx, "a/b/cancelled", r, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: %v", err)
	}
	for _, p := range tree(t, s.Dir()) {
		if strings.Contains(p, "~") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
	got, err := os.ReadFile(filepath.Join(s.Dir(), "a", "b", "keep.dcm"))
	if err != nil || string(got) != "keep" {
		t.Fatalf("previous object = %q, %v", got, err)
	}
}

// errorReader always fails.
type errorReader struct{}

// Read fails.
func (errorReader) Read([]byte) (int, error) { return 0, errors.New("read failed") }

func TestListSkipsForeignFiles(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if err := s.Put(ctx, "d/obj", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crash, a foreign name and a symlink.
	for _, name := range []string{".put~123", "with space", "ünï"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), "d", name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(s.Dir(), "d", "link")); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.List(ctx, "", func(info storage.ObjectInfo) error {
		got = append(got, info.Key)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"d/obj"}) {
		t.Fatalf("List = %q, %v; want only d/obj", got, err)
	}
}

func TestDeletePrunesEmptyDirs(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	for _, k := range []string{"s/1/a", "s/1/b", "s/2/c"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"s/1/a", "s/1/b"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := tree(t, s.Dir()); !slices.Equal(got, []string{"s", "s/2", "s/2/c"}) {
		t.Fatalf("tree after Delete = %q", got)
	}
	if err := s.Delete(ctx, "s/2/c"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, s.Dir()); len(got) != 0 {
		t.Fatalf("tree after deleting everything = %q", got)
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Fatalf("root removed: %v", err)
	}
}

// TestPutDeleteRace runs Puts and Deletes in the same directories, where a
// Delete pruning a directory races with a Put creating a file in it.
func TestPutDeleteRace(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				key := "race/" + string(rune('a'+i%3)) + "/obj-" + string(rune('0'+w))
				if err := s.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
					errs <- err
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestKeyConflictsWithDirectory(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if err := s.Put(ctx, "a/b/c", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b", strings.NewReader("y"), 1); err == nil {
		t.Errorf("Put of a key that is a directory: no error")
	}
	if err := s.Put(ctx, "a/b/c/d", strings.NewReader("y"), 1); err == nil {
		t.Errorf("Put below a key: no error")
	}
	for _, p := range tree(t, s.Dir()) {
		if strings.Contains(p, "~") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
}

func TestReadOnlyIsUnavailable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	s := open(t)
	if err := os.Chmod(s.Dir(), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(s.Dir(), 0o750) })
	err := s.Put(t.Context(), "ro/x", strings.NewReader("x"), 1)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put into a read-only directory: %v, want ErrUnavailable", err)
	}
}

func TestOpenOnFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Open(path); err == nil {
		t.Fatal("Open of a regular file: no error")
	}
}

func BenchmarkPutGet(b *testing.B) {
	storagetest.Bench(b, open(b))
}

// TestMoveIn adopts a local file as an object without copying it: the
// bytes are the object's, the source path is gone, a wrong size is refused
// and leaves nothing, and Sync makes it durable.
func TestMoveIn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	body := []byte("moved, not copied")
	f.Write(body)
	if err := s.MoveIn(ctx, "a/b/c.dcm", f, int64(len(body))+1); err == nil {
		t.Fatal("wrong size accepted")
	}
	if _, err := s.Stat(ctx, "a/b/c.dcm"); err == nil {
		t.Fatal("a refused move left an object")
	}
	if err := s.MoveIn(ctx, "a/b/c.dcm", f, int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatalf("source still there: %v", err)
	}
	rc, err := s.Get(ctx, "a/b/c.dcm", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(body) {
		t.Fatalf("object %q", got)
	}
	if err := s.MoveIn(ctx, "../x", f, int64(len(body))); err == nil {
		t.Fatal("invalid key accepted")
	}
}

// TestWriteIn writes an object in place without a per-file fsync: the
// bytes are the object's, a second write replaces it whole, no temporary
// file stays behind or shows in List, and invalid keys are refused.
func TestWriteIn(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "objects")
	s, err := file.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first version", "second"} {
		if err := s.WriteIn(ctx, "studies/1.2/3.4/5.6.dcm", []byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Get(ctx, "studies/1.2/3.4/5.6.dcm", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != body {
			t.Fatalf("object %q, want %q", got, body)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "studies", "1.2", "3.4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "5.6.dcm" {
		t.Fatalf("directory holds %v, want only the object", entries)
	}
	var keys []string
	if err := s.List(ctx, "", func(oi storage.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("List: %v", keys)
	}
	for _, bad := range []string{"../x", "a/../../b", ""} {
		if err := s.WriteIn(ctx, bad, []byte("x")); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}
