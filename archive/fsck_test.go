package archive_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
)

// TestFsckDeepFindsBitRot flips one byte of a stored object without
// changing its size: only a deep check, which re-reads the object against
// its row's checksum, can see it, and it names exactly that object.
func TestFsckDeepFindsBitRot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	svc, _, _ := newArchive(t, dir, t.TempDir())
	sops := []string{"1.2.3.4.1", "1.2.3.4.2"}
	for _, sop := range sops {
		storeCommitted(t, svc, gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal("1.2.3", "1.2.3.4", sop)))
	}
	if rep, err := svc.Fsck(ctx, archive.FsckOptions{Deep: true}); err != nil || !rep.Clean() || rep.Rows != 2 {
		t.Fatalf("fsck of an intact store: %+v, %v", rep, err)
	}
	key := storage.InstanceKey("1.2.3", "1.2.3.4", sops[1])
	path := filepath.Join(dir, "objects", filepath.FromSlash(key))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if rep, err := svc.Fsck(ctx, archive.FsckOptions{}); err != nil || !rep.Clean() {
		t.Fatalf("a shallow fsck compares sizes only, yet: %+v, %v", rep, err)
	}
	rep, err := svc.Fsck(ctx, archive.FsckOptions{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean() || !slices.Equal(rep.Corrupt, []string{key}) {
		t.Fatalf("deep fsck after a flipped byte in %s: %+v", key, rep)
	}
}

// TestRestoreAfterReindexComparesBytes rebuilds the index from storage (its
// rows then carry no checksum) and sends the same instance again, then a
// same-size variant: the first is a duplicate, the second a conflict, and
// the stored object is untouched.
func TestRestoreAfterReindexComparesBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	svc, _, _ := newArchive(t, dir, t.TempDir())
	sop := "1.2.3.4.9"
	ds := gwtest.Minimal("1.2.3", "1.2.3.4", sop)
	ds = append(ds, gwtest.Elem(0x0099, 0x0010, "LO", gwtest.Str("FSCKTEST", ' '))...)
	ds = append(ds, gwtest.Elem(0x0099, 0x1000, "OB", bytes.Repeat([]byte{0x5A}, 64))...)
	sent := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, ds)
	storeCommitted(t, svc, sent)

	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index2")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fresh := archive.New(store, db, archive.Options{TempDir: t.TempDir(), Visibility: archive.Unrestricted{}})
	if st, err := fresh.Reindex(ctx, nil); err != nil || st.Indexed != 1 {
		t.Fatalf("reindex: %+v, %v", st, err)
	}
	if row, err := db.InstanceBySOP(sop); err != nil || row.CRC32C != "" || row.SHA256 != "" {
		t.Fatalf("reindexed row: %+v, %v (want no checksum)", row, err)
	}
	if st, err := fresh.Store(ctx, bytes.NewReader(sent), ""); err != nil || !st.Duplicate {
		t.Fatalf("same bytes again: %+v, %v", st, err)
	}
	other := bytes.Clone(sent)
	other[len(other)-1] ^= 0xFF
	if _, err := fresh.Store(ctx, bytes.NewReader(other), ""); !errors.Is(err, archive.ErrConflict) {
		t.Fatalf("same size, other bytes: %v, want a conflict", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "objects", filepath.FromSlash(storage.InstanceKey("1.2.3", "1.2.3.4", sop))))
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("stored object changed after the refused re-store (%v)", err)
	}
}

func storeCommitted(t *testing.T, svc *archive.Service, part []byte) {
	t.Helper()
	st, err := svc.Store(context.Background(), bytes.NewReader(part), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Commit(context.Background(), []*archive.Stored{st}); err != nil {
		t.Fatal(err)
	}
}
