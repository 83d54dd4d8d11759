package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSyncTargets: Sync fsyncs what WriteIn and MoveIn wrote (the files,
// their directories, and the parents of directories they created) and
// nothing twice; an object deleted before the Sync is skipped, not an
// error.
func TestSyncTargets(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteIn(ctx, "a/b/c/one", []byte("1")); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(s.root, "spool-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("22"))
	if err := s.MoveIn(ctx, "a/b/d/two", f, 2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	files, dirs := s.pend.files, s.pend.dirs
	want := []string{"a/b/c/one", "a/b/d/two"}
	for _, k := range want {
		if _, ok := files[filepath.Join(s.root, k)]; !ok {
			t.Errorf("%s not pending (files %v)", k, files)
		}
	}
	for _, d := range []string{"", "a", "a/b", "a/b/c", "a/b/d"} {
		if _, ok := dirs[filepath.Join(s.root, d)]; !ok {
			t.Errorf("directory %q not pending (dirs %v)", d, dirs)
		}
	}
	if err := s.Delete(ctx, "a/b/c/one"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("sync with a deleted object: %v", err)
	}
	if len(s.pend.files)+len(s.pend.dirs) != 0 {
		t.Errorf("still pending after Sync: %v %v", s.pend.files, s.pend.dirs)
	}
	rc, err := s.Get(ctx, "a/b/d/two", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(rc)
	rc.Close()
	if b.String() != "22" {
		t.Errorf("moved object holds %q", b.String())
	}
	// Many objects: one syncfs instead.
	for i := range maxTargeted + 1 {
		if err := s.WriteIn(ctx, "m/"+string(rune('a'+i%26))+"/"+filepath.Base(t.Name())+string(rune('A'+i/26)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil || len(s.pend.files) != 0 {
		t.Errorf("sync of many: %v, %d still pending", err, len(s.pend.files))
	}
}
