package archive_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage"
)

// withSourceAE returns a Part 10 file of the data set with a file meta
// naming a sending AE and an implementation, as a C-STORE SCP writes it.
func withSourceAE(sopClass, sop, ae, impl string, ds []byte) []byte {
	var meta bytes.Buffer
	meta.Write(gwtest.Elem(0x0002, 0x0001, "OB", []byte{0, 1}))
	meta.Write(gwtest.Elem(0x0002, 0x0002, "UI", gwtest.Str(sopClass, 0)))
	meta.Write(gwtest.Elem(0x0002, 0x0003, "UI", gwtest.Str(sop, 0)))
	meta.Write(gwtest.Elem(0x0002, 0x0010, "UI", gwtest.Str("1.2.840.10008.1.2.1", 0)))
	meta.Write(gwtest.Elem(0x0002, 0x0013, "SH", gwtest.Str(impl, ' ')))
	meta.Write(gwtest.Elem(0x0002, 0x0016, "AE", gwtest.Str(ae, ' ')))
	out := bytes.NewBuffer(make([]byte, 128))
	out.WriteString("DICM")
	gl := binary.LittleEndian.AppendUint32(nil, uint32(meta.Len()))
	out.Write(gwtest.Elem(0x0002, 0x0000, "UL", gl))
	out.Write(meta.Bytes())
	out.Write(ds)
	return out.Bytes()
}

// TestDuplicateFromAnotherSender: the same instance sent by a modality and
// then by its PACS differs only in the file meta (the calling AE, the
// writer's implementation, so also in length): it is a duplicate, and
// the object first stored stays as it was. A data set that differs, or
// the same data set in another transfer syntax, is still a conflict.
func TestDuplicateFromAnotherSender(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spool := filepath.Join(dir, "tmp")
	os.Mkdir(spool, 0o700)
	svc, store, _ := newArchive(t, dir, spool)
	const class, sop = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.77"
	ds := gwtest.Minimal("1.2.3", "1.2.3.4", sop)

	first := withSourceAE(class, sop, "CT_SCANNER_1", "MODALITY_1.0", ds)
	st, err := svc.Store(ctx, bytes.NewReader(first), "")
	if err != nil || st.Duplicate {
		t.Fatalf("first store: %+v, %v", st, err)
	}
	if err := svc.Commit(ctx, []*archive.Stored{st}); err != nil {
		t.Fatal(err)
	}
	fromPACS := withSourceAE(class, sop, "PACS", "PACS_7", ds)
	if len(fromPACS) == len(first) {
		t.Fatal("the test wants file metas of different lengths")
	}
	if st, err := svc.Store(ctx, bytes.NewReader(fromPACS), ""); err != nil || !st.Duplicate {
		t.Fatalf("same data set from another sender: %+v, %v; want a duplicate", st, err)
	}
	plain := gwtest.Part10(class, sop, ds)
	if st, err := svc.Store(ctx, bytes.NewReader(plain), ""); err != nil || !st.Duplicate {
		t.Fatalf("same data set without a source AE: %+v, %v; want a duplicate", st, err)
	}
	rc, err := store.Get(ctx, storage.InstanceKey("1.2.3", "1.2.3.4", sop), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	got.ReadFrom(rc)
	if !bytes.Equal(got.Bytes(), first) {
		t.Fatal("the stored object changed after a duplicate")
	}

	other := gwtest.Minimal("1.2.3", "1.2.3.4", sop)
	other = bytes.Replace(other, []byte("HOSTILE1"), []byte("HOSTILE2"), 1)
	if _, err := svc.Store(ctx, bytes.NewReader(withSourceAE(class, sop, "PACS", "PACS_7", other)), ""); !errors.Is(err, archive.ErrConflict) {
		t.Fatalf("another data set under the same SOP Instance UID: %v, want a conflict", err)
	}
}
