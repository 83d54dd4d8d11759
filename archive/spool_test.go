package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/gwtest"
	"github.com/imgcloud/gateway/storage"
)

// TestStoreSpoolsSmallAndLargeParts stores an instance small enough to be
// spooled in memory and one larger than the in-memory limit (spilled to a
// temporary file): both objects hold the sent bytes with the preamble
// zeroed, the rows carry their SHA-256, and no spool file stays behind.
func TestStoreSpoolsSmallAndLargeParts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spool := filepath.Join(dir, "tmp")
	os.Mkdir(spool, 0o700)
	svc, store, db := newArchive(t, dir, spool)

	for _, tc := range []struct {
		name, sop string
		bulk      int
	}{{"small", "1.2.3.4.1", 1 << 10}, {"large", "1.2.3.4.2", 9 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			sop := tc.sop
			ds := gwtest.Minimal("1.2.3", "1.2.3.4", sop)
			ds = append(ds, gwtest.Elem(0x0099, 0x0010, "LO", gwtest.Str("SPOOLTEST", ' '))...)
			ds = append(ds, gwtest.Elem(0x0099, 0x1000, "OB", bytes.Repeat([]byte{0xA5}, tc.bulk))...)
			sent := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, ds)
			copy(sent, "MZ polyglot preamble") // must not be served back
			want := bytes.Clone(sent)
			clear(want[:128])

			st, err := svc.Store(ctx, bytes.NewReader(sent), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Commit(ctx, []*archive.Stored{st}); err != nil {
				t.Fatal(err)
			}
			row, err := db.InstanceBySOP(sop)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(want)
			if row.SHA256 != hex.EncodeToString(sum[:]) || row.Size != int64(len(want)) {
				t.Errorf("row has sha256 %s size %d, want %x %d", row.SHA256, row.Size, sum, len(want))
			}
			rc, err := store.Get(ctx, storage.InstanceKey("1.2.3", "1.2.3.4", sop), 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, want) {
				t.Fatalf("stored object differs from the sent bytes with a zeroed preamble (%d vs %d bytes)", len(got), len(want))
			}
			// The same bytes again are idempotent, other bytes a conflict.
			if st, err := svc.Store(ctx, bytes.NewReader(sent), ""); err != nil || !st.Duplicate {
				t.Fatalf("re-store: %+v, %v", st, err)
			}
			other := bytes.Clone(sent)
			other[len(other)-1] ^= 0xFF
			if _, err := svc.Store(ctx, bytes.NewReader(other), ""); err == nil {
				t.Fatal("other bytes under the same SOP Instance UID were accepted")
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Fatalf("spool files left behind: %v", left)
			}
		})
	}
}
