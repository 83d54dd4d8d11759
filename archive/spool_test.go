package archive_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage"
)

// TestStoreSpoolsSmallAndLargeParts stores an instance small enough to be
// spooled in memory, one large enough to be written around the page cache
// (its length not a multiple of the block size, so the tail goes through
// the cache) and one larger than the in-memory limit (spilled to a
// temporary file): every object holds the sent bytes with the preamble
// zeroed, the rows carry their CRC-32C, and no spool file stays behind.
func TestStoreSpoolsSmallAndLargeParts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spool := filepath.Join(dir, "tmp")
	os.Mkdir(spool, 0o700)
	svc, store, db := newArchive(t, dir, spool)

	for _, tc := range []struct {
		name, sop string
		bulk      int
	}{{"small", "1.2.3.4.1", 1 << 10}, {"direct", "1.2.3.4.3", 3<<20 + 1001}, {"large", "1.2.3.4.2", 9 << 20}} {
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
			sum := hex.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli))))
			if row.CRC32C != sum || row.SHA256 != "" || row.Size != int64(len(want)) {
				t.Errorf("row has crc32c %s sha256 %q size %d, want %s and %d bytes", row.CRC32C, row.SHA256, row.Size, sum, len(want))
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
			if _, err := svc.Store(ctx, bytes.NewReader(other), ""); !errors.Is(err, archive.ErrConflict) {
				t.Fatalf("other bytes under the same SOP Instance UID: %v, want a conflict", err)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Fatalf("spool files left behind: %v", left)
			}
		})
	}
}
