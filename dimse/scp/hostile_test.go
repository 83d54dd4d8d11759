package scp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// storeService serves a gateway service over a real archive (folder store
// and Badger under dir, archive spool in dir/tmp) to the store-only AE
// PACS on 127.0.0.1; the archive is returned for stores by the other
// path (STOW-RS).
func storeService(t *testing.T, dir string, so dimse.Options, ao archive.Options) (net.Listener, *index.DB, *archive.Service) {
	t.Helper()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	ao.TempDir, ao.Visibility = tmp, archive.Unrestricted{}
	svc := archive.New(store, db, ao)
	aes, err := access.NewAEs([]access.AE{{AET: "PACS", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(), Server: so})
	if err != nil {
		t.Fatal(err)
	}
	return serveLoopback(t, s), db, svc
}

func dialPACS(t *testing.T, ln net.Listener, ts string, classes ...string) *dimse.Client {
	t.Helper()
	var pcs []dimse.PresentationContext
	for _, c := range classes {
		pcs = append(pcs, dimse.PresentationContext{AbstractSyntax: c, TransferSyntaxes: []string{ts}})
	}
	c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: "PACS", CalledAE: "ANY", Contexts: pcs})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoreCommandDisagreesWithDataSet: a C-STORE-RQ whose Affected SOP
// Instance or Class UID is not the data set's is refused with A900 (PS3.4
// B.2.3; DCMTK's storescp answers the same) and stored under neither UID,
// on an association that goes on.
func TestStoreCommandDisagreesWithDataSet(t *testing.T) {
	dir := t.TempDir()
	ln, db, _ := storeService(t, dir, dimse.Options{SpoolDir: dir}, archive.Options{})
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	c := dialPACS(t, ln, explicitLE, sc, ct)
	defer c.Release()
	ds := gwtest.Minimal("1.2.826.0.1.9.1", "1.2.826.0.1.9.2", "1.2.826.0.1.9.3") // Secondary Capture
	for _, tc := range []struct{ name, class, sop, says string }{
		{"other SOP instance", sc, "1.2.826.0.1.9.4", "SOPInstanceUID is 1.2.826.0.1.9.3"},
		{"other SOP class", ct, "1.2.826.0.1.9.3", "SOPClassUID is " + sc},
	} {
		st, cm, err := c.Store(tc.class, tc.sop, ds)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if st != 0xA900 || !strings.Contains(cm, tc.says) {
			t.Errorf("%s: %04X %q, want A900 naming the UIDs", tc.name, st, cm)
		}
	}
	for _, sop := range []string{"1.2.826.0.1.9.3", "1.2.826.0.1.9.4"} {
		if _, err := db.InstanceBySOP(sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s in the index after a refused store: %v", sop, err)
		}
	}
	if st, cm, err := c.Store(sc, "1.2.826.0.1.9.3", ds); st != 0 || err != nil {
		t.Fatalf("the same data set with its own UIDs afterwards: %04X %q %v", st, cm, err)
	}
}

const explicitLE = "1.2.840.10008.1.2.1"

// TestStoreCutShort cuts a C-STORE data set at many byte offsets, with
// an A-ABORT or a bare TCP close, on a service that admits two
// associations at once: nothing is stored, no spool file stays (neither
// the archive's nor the upper layer's), no goroutine is left, and the
// slots are freed (a new association stores). A 9 MiB data set so that
// the late cuts come after the archive spooled to a file.
func TestStoreCutShort(t *testing.T) {
	dir := t.TempDir()
	ln, db, _ := storeService(t, dir, dimse.Options{SpoolDir: filepath.Join(dir, "tmp"), MaxAssociations: 2, MaxPerCaller: 2}, archive.Options{})
	const sop = "1.2.826.0.1.9.13"
	ds := nativeImage("1.2.826.0.1.9.11", "1.2.826.0.1.9.12", sop, 3072, 3072)
	pixels := 3072 * 3072
	base := runtime.NumGoroutine()
	for _, cut := range []int{0, 1, 2, 7, 8, 100, 131, 200, 1 << 16, 8<<20 - 1, 8 << 20, 8<<20 + 1, len(ds) - pixels - 12, len(ds) - 1, len(ds)} {
		for _, abort := range []bool{true, false} {
			c := dialPACS(t, ln, explicitLE, sc)
			cmd := dimse.StoreRQ(sc, sop, 1)
			id, _, _ := c.Context(sc)
			if err := c.WritePDU(4, dimse.EncodePData(dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(cmd)})); err != nil {
				t.Fatal(err)
			}
			// The whole data set without its last fragment, when cut is
			// len(ds): the peer stops just before saying it is complete.
			for off := 0; off < cut; off += 16 << 10 {
				end := min(cut, off+16<<10)
				if err := c.WritePDU(4, dimse.EncodePData(dimse.PDV{Context: id, Data: ds[off:end]})); err != nil {
					t.Fatal(err)
				}
			}
			if abort {
				c.Abort()
			} else {
				c.Close()
			}
			settled(t, fmt.Sprintf("cut at %d (abort %v)", cut, abort), func() string {
				if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) > 0 {
					return fmt.Sprintf("%d file(s) left in tmp, first %s", len(ents), ents[0].Name())
				}
				if n := runtime.NumGoroutine(); n > base {
					return fmt.Sprintf("%d goroutines, %d before", n, base)
				}
				return ""
			})
			if _, err := db.InstanceBySOP(sop); !errors.Is(err, index.ErrNotFound) {
				t.Fatalf("cut at %d (abort %v): instance in the index: %v", cut, abort, err)
			}
		}
	}
	// Both slots are free: two associations at once, one stores whole.
	c1, c2 := dialPACS(t, ln, explicitLE, sc), dialPACS(t, ln, explicitLE, sc)
	defer c2.Release()
	if st, cm, err := c1.Store(sc, sop, ds); st != 0 || err != nil {
		t.Fatalf("whole store after the cuts: %04X %q %v", st, cm, err)
	}
	c1.Release()
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) > 0 {
		t.Errorf("%d file(s) left in tmp after a whole store", len(ents))
	}
}

// nativeImage is an 8-bit monochrome Secondary Capture data set with a
// compressible pattern.
func nativeImage(study, series, sop string, rows, cols int) []byte {
	ds := gwtest.Minimal(study, series, sop)
	us := func(elem, v uint16) []byte {
		return gwtest.Elem(0x0028, elem, "US", binary.LittleEndian.AppendUint16(nil, v))
	}
	ds = append(ds, us(0x0002, 1)...)
	ds = append(ds, gwtest.Elem(0x0028, 0x0004, "CS", gwtest.Str("MONOCHROME2", ' '))...)
	for _, e := range [][2]uint16{{0x0010, uint16(rows)}, {0x0011, uint16(cols)}, {0x0100, 8}, {0x0101, 8}, {0x0102, 7}, {0x0103, 0}} {
		ds = append(ds, us(e[0], e[1])...)
	}
	pixels := make([]byte, rows*cols+rows*cols%2)
	for i := range pixels {
		pixels[i] = byte(i / 1000)
	}
	return append(ds, gwtest.Elem(0x7FE0, 0x0010, "OB", pixels)...)
}

// settled polls check (which says what is wrong, or "") for up to 5 s.
func settled(t *testing.T, what string, check func() string) {
	t.Helper()
	var why string
	for range 250 {
		if why = check(); why == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, why)
}

// TestStoreHostileDataSets: a data set beyond the upper layer's bound
// aborts the association and leaves nothing; one whose last element
// declares more bytes than follow is answered C000 with a comment and the
// association goes on; a C-STORE-RQ that announces a data set and is
// followed by another command aborts, storing nothing.
func TestStoreHostileDataSets(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	ln, db, _ := storeService(t, dir, dimse.Options{SpoolDir: tmp, MaxDataSetBytes: 1 << 20}, archive.Options{})
	empty := func(what string) {
		settled(t, what, func() string {
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				return fmt.Sprintf("%d file(s) left in tmp", len(ents))
			}
			return ""
		})
	}
	notStored := func(what, sop string) {
		if _, err := db.InstanceBySOP(sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s: %s in the index: %v", what, sop, err)
		}
	}

	big := gwtest.Minimal("1.2.826.0.1.9.21", "1.2.826.0.1.9.22", "1.2.826.0.1.9.23")
	big = append(big, gwtest.Elem(0x0009, 0x1010, "OB", make([]byte, 2<<20))...)
	c := dialPACS(t, ln, explicitLE, sc)
	if st, cm, err := c.Store(sc, "1.2.826.0.1.9.23", big); err == nil {
		t.Errorf("2 MiB data set with a 1 MiB bound: %04X %q, want the association aborted", st, cm)
	}
	c.Close()
	empty("data set beyond the bound")
	notStored("data set beyond the bound", "1.2.826.0.1.9.23")

	lying := gwtest.Minimal("1.2.826.0.1.9.21", "1.2.826.0.1.9.22", "1.2.826.0.1.9.24")
	lying = append(lying, gwtest.Elem(0x0009, 0x1010, "OB", make([]byte, 64))...)
	binary.LittleEndian.PutUint32(lying[len(lying)-68:], 1000) // the OB length
	c = dialPACS(t, ln, explicitLE, sc, scp.Verification)
	if st, cm, err := c.Store(sc, "1.2.826.0.1.9.24", lying); err != nil || st != 0xC000 || cm == "" {
		t.Errorf("element longer than the data set: %04X %q %v, want C000 with a comment", st, cm, err)
	}
	if st, err := c.Echo(); st != 0 || err != nil {
		t.Errorf("echo after a C000: %04X %v", st, err)
	}
	c.Release()
	empty("lying element length")
	notStored("lying element length", "1.2.826.0.1.9.24")

	c = dialPACS(t, ln, explicitLE, sc, scp.Verification)
	cmd := dimse.StoreRQ(sc, "1.2.826.0.1.9.25", 1)
	id, _, _ := c.Context(sc)
	if err := c.WritePDU(4, dimse.EncodePData(dimse.PDV{Context: id, Command: true, Last: true, Data: dimse.EncodeCommand(cmd)})); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Echo(); err == nil {
		t.Errorf("a command where the C-STORE data set was due: echo answered %04X, want the association aborted", st)
	}
	c.Close()
	empty("command instead of the data set")
	notStored("command instead of the data set", "1.2.826.0.1.9.25")

	c = dialPACS(t, ln, explicitLE, sc)
	defer c.Release()
	ok := gwtest.Minimal("1.2.826.0.1.9.21", "1.2.826.0.1.9.22", "1.2.826.0.1.9.26")
	if st, cm, err := c.Store(sc, "1.2.826.0.1.9.26", ok); st != 0 || err != nil {
		t.Fatalf("a good store afterwards: %04X %q %v", st, cm, err)
	}
}

// rle asks every instance stored compressed in RLE Lossless (an encoder
// every build has).
type rle struct{}

func (rle) CompressAtIngest(context.Context) string { return "1.2.840.10008.1.2.5" }

// TestCompressedStowThenCStore: with compression at ingest, an instance
// stored through the archive's STOW path (the file as a modality wrote
// it) and then sent again over C-STORE (the file meta the gateway makes
// names another writer) is a duplicate: 0000, the compressed object kept.
func TestCompressedStowThenCStore(t *testing.T) {
	dir := t.TempDir()
	ln, db, svc := storeService(t, dir, dimse.Options{SpoolDir: dir}, archive.Options{Codecs: codecs.New(), Compression: rle{}})
	const sop = "1.2.826.0.1.9.33"
	ds := nativeImage("1.2.826.0.1.9.31", "1.2.826.0.1.9.32", sop, 256, 256)
	st, err := svc.Store(context.Background(), bytes.NewReader(gwtest.Part10(sc, sop, ds)), "")
	if err != nil || st.Compressed == "" {
		t.Fatalf("STOW path: %+v %v, want stored compressed", st, err)
	}
	before, err := db.InstanceBySOP(sop)
	if err != nil {
		t.Fatal(err)
	}
	c := dialPACS(t, ln, explicitLE, sc)
	defer c.Release()
	if st, cm, err := c.Store(sc, sop, ds); st != 0 || err != nil {
		t.Fatalf("C-STORE of the same instance: %04X %q %v, want 0000 (a duplicate)", st, cm, err)
	}
	after, err := db.InstanceBySOP(sop)
	if err != nil || after.CRC32C != before.CRC32C || after.TransferSyntax != before.TransferSyntax {
		t.Fatalf("row after the re-send: %+v %v, want it unchanged (%+v)", after, err, before)
	}
}

// TestStoreDataSetNotInItsSyntax: a native Explicit VR Little Endian data
// set sent on a context negotiated as Deflated, JPEG-LS or Big Endian is
// refused with a comment (not stored as if it were right), and the
// association goes on.
func TestStoreDataSetNotInItsSyntax(t *testing.T) {
	dir := t.TempDir()
	ln, db, _ := storeService(t, dir, dimse.Options{SpoolDir: dir}, archive.Options{})
	for i, ts := range []string{"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.2"} {
		sop := fmt.Sprintf("1.2.826.0.1.9.4%d", i)
		c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: "PACS", CalledAE: "ANY",
			Contexts: []dimse.PresentationContext{{AbstractSyntax: sc, TransferSyntaxes: []string{ts}},
				{AbstractSyntax: scp.Verification, TransferSyntaxes: []string{explicitLE}}}})
		if err != nil {
			t.Fatal(err)
		}
		st, cm, err := c.Store(sc, sop, nativeImage("1.2.826.0.1.9.41", "1.2.826.0.1.9.42", sop, 64, 64))
		if err != nil || st == 0 || cm == "" {
			t.Errorf("native data set on a %s context: %04X %q %v, want a refusal with a comment", ts, st, cm, err)
		}
		if st, err := c.Echo(); st != 0 || err != nil {
			t.Errorf("echo after the refusal: %04X %v", st, err)
		}
		c.Release()
		if _, err := db.InstanceBySOP(sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s: stored: %v", ts, err)
		}
	}
}
