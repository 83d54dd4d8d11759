package secretfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWrite: the file holds what was written, mode 0600 in a 0700 folder
// made for it; writing again replaces it and leaves no temporary file.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "k.json")
	for _, content := range []string{"first", "second"} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes: file %v, folder %v", fi.Mode().Perm(), di.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want the key file alone", len(ents))
	}
	if err := Write(filepath.Join(path, "under-a-file"), []byte("x")); err == nil {
		t.Error("a write under a regular file succeeded")
	}
}

// TestCreateIsCreateOnly: Create writes a missing file whole, refuses an
// existing one with os.ErrExist and leaves it as it was; many creators at
// once on one path leave exactly one winner, and every reader sees a whole
// file (never the empty one an O_EXCL create shows before its write).
func TestCreateIsCreateOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "person-key")
	if err := Create(path, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if err := Create(path, []byte("second\n")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v, want os.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first\n" {
		t.Fatalf("file holds %q after a refused create", b)
	}
	race := filepath.Join(dir, "raced")
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 16 {
		wg.Go(func() {
			content := []byte(fmt.Sprintf("%064d\n", i))
			if err := Create(race, content); err == nil {
				won.Add(1)
			} else if !errors.Is(err, os.ErrExist) {
				t.Error(err)
			}
			if b, err := os.ReadFile(race); err == nil && len(b) != 65 {
				t.Errorf("a reader saw %d bytes", len(b))
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d creators won, want 1", won.Load())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("folder holds %d entries, want the two files alone", len(ents))
	}
}
