package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// compressTo is the Compression rule of a party that always asks for ts.
type compressTo string

func (c compressTo) CompressAtIngest(context.Context) string { return string(c) }

// newCompressing returns an archive that compresses what it stores in ts
// with the codecs given.
func newCompressing(t testing.TB, set *codec.Set, ts string) (*archive.Service, storage.Store, string) {
	t.Helper()
	dir := t.TempDir()
	spool := filepath.Join(dir, "tmp")
	os.Mkdir(spool, 0o700)
	store, db := gwtest.StoreAndIndex(t, dir)
	return archive.New(store, db, archive.Options{TempDir: spool, Visibility: archive.Unrestricted{}, Codecs: set, Compression: compressTo(ts)}), store, dir
}

// object returns the stored object of in, written to a file for the
// third-party tools.
func object(t *testing.T, store storage.Store, in *archive.Instance) (string, []byte) {
	t.Helper()
	rc, err := store.Get(context.Background(), in.Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stored.dcm")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// nativeFrames are the frames of in as the archive serves them in
// Explicit VR Little Endian.
func nativeFrames(t *testing.T, svc *archive.Service, in *archive.Instance) [][]byte {
	t.Helper()
	ctx := context.Background()
	nums := make([]int, len(in.Frames.Frames))
	for i := range nums {
		nums[i] = i + 1
	}
	frames, err := svc.Frames(ctx, in, nums)
	if err != nil {
		t.Fatal(err)
	}
	frames, err = svc.Transcode(in, frames, dcm.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range frames {
		rc, err := f.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sameFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: frame %d differs from the received pixels", what, i+1)
		}
	}
}

// TestCompressAtIngest: every encoder of the build, on the real files of
// suyashkumar/dicom and the synthesised ones, in Explicit and Implicit VR:
// the object stored is in the syntax asked, DCMTK reads it, a third-party
// decoder (dcmdjpls, dcmdrle, GDCM) and the archive's own native retrieve
// give the received pixels byte for byte, the row keeps the received
// size and checksum, and a re-send of the same file (also after reindex)
// is a duplicate while a changed pixel is a conflict.
func TestCompressAtIngest(t *testing.T) {
	set := codecs.New()
	natives := codectest.Natives(t)
	for _, ts := range []string{codec.JPEGLSLossless, codec.JPEG2000Lossless, codec.RLELossless} {
		if _, ok := set.Encoder(ts); !ok {
			t.Logf("%s: no encoder in this build (-tags cgocodecs): see TestCompressAtIngestWithoutEncoder", dcm.SyntaxName(ts))
			continue
		}
		for _, n := range natives {
			for _, implicit := range []bool{false, true} {
				name := dcm.SyntaxName(ts) + "/" + n.Name
				if implicit {
					name += "/implicit"
				}
				t.Run(name, func(t *testing.T) {
					path := n.Path
					if implicit {
						path = filepath.Join(t.TempDir(), "implicit.dcm")
						codectest.Run(t, "dcmconv", "-q", "+ti", n.Path, path)
					}
					// (1.dcm has an icon: kept native.) RLE does not pay on the
					// synthesised noise.
					want := archive.OutcomeCompressed
					switch {
					case ts == codec.RLELossless && strings.HasPrefix(n.Name, "synthetic-") && n.Name != "synthetic-s12":
						want = archive.OutcomeNotSmaller
					}
					checkCompressed(t, set, ts, path, want)
				})
			}
		}
	}
}

func checkCompressed(t *testing.T, set *codec.Set, ts, path, outcome string) {
	ctx := context.Background()
	svc, store, dir := newCompressing(t, set, ts)
	received, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if outcome != archive.OutcomeCompressed {
		storedAsReceived(t, svc, store, path)
		if got := outcomeOf(svc, ts, outcome); got != 1 {
			t.Fatalf("%s %d, want 1 (%+v)", outcome, got, svc.CompressionStats())
		}
		return
	}
	h, err := dcm.ReadHeader(bytes.NewReader(received), int64(len(received)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, want := codectest.Frames(t, path)
	st, err := svc.Store(ctx, bytes.NewReader(received), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Commit(ctx, []*archive.Stored{st}); err != nil {
		t.Fatal(err)
	}
	if st.Compressed != ts {
		t.Fatalf("stored in %q, want %s (stats %+v)", st.Compressed, ts, svc.CompressionStats())
	}
	in, err := svc.InstanceBySOP(ctx, st.SOP)
	if err != nil {
		t.Fatal(err)
	}
	if in.TransferSyntax != ts || !in.Frames.Encapsulated {
		t.Fatalf("row: syntax %s encapsulated %v", in.TransferSyntax, in.Frames.Encapsulated)
	}
	if r := in.Received; r == nil || r.Size != int64(len(received)) || r.TransferSyntax == ts || len(r.DataSetSHA256) != 64 {
		t.Fatalf("row keeps %+v of a file of %d bytes", in.Received, len(received))
	}
	objPath, obj := object(t, store, in)
	if int64(len(obj)) != in.Size || len(obj) >= len(received) {
		t.Fatalf("object of %d bytes (row %d), received %d", len(obj), in.Size, len(received))
	}
	t.Logf("%d -> %d bytes (%.2f:1)", len(received), len(obj), float64(len(received))/float64(len(obj)))
	// DCMTK reads the whole object, and a third-party decoder gives the
	// received pixels back.
	if out := codectest.Run(t, "dcmdump", "-q", "+E", objPath); strings.Contains(string(out), "E: ") {
		t.Fatalf("dcmdump: %s", out)
	}
	// (DCMTK does not sign-extend: the stored bits are compared.)
	sameFrames(t, "third-party decode", codectest.StoredBits(codectest.Reference(t, codectest.File{Path: objPath, Syntax: ts}), h.Dataset), codectest.StoredBits(want, h.Dataset))
	sameFrames(t, "native retrieve", nativeFrames(t, svc, in), want)
	if got := outcomeOf(svc, ts, archive.OutcomeCompressed); got != 1 {
		t.Fatalf("compressed count %d", got)
	}

	// The received file again: a duplicate, the object unchanged.
	if st, err := svc.Store(ctx, bytes.NewReader(received), ""); err != nil || !st.Duplicate {
		t.Fatalf("re-send: %+v, %v; want a duplicate", st, err)
	}
	// One pixel changed: a conflict.
	changed := bytes.Clone(received)
	changed[h.Frames.Frames[0][0].Offset] ^= 1
	if _, err := svc.Store(ctx, bytes.NewReader(changed), ""); !errors.Is(err, archive.ErrConflict) {
		t.Fatalf("a changed pixel: %v, want a conflict", err)
	}
	_, after := object(t, store, in)
	if !bytes.Equal(after, obj) {
		t.Fatal("the object changed")
	}

	// Reindex from the objects alone: the object says what was received.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	store2, db2 := gwtest.StoreAndIndex(t, dir)
	svc2 := archive.New(store2, db2, archive.Options{TempDir: filepath.Join(dir, "tmp"), Visibility: archive.Unrestricted{}, Codecs: set})
	if _, err := svc2.Reindex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	in2, err := svc2.InstanceBySOP(ctx, st.SOP)
	if err != nil {
		t.Fatal(err)
	}
	if in2.Received == nil || in2.Received.Size != in.Received.Size || in2.Received.DataSetSHA256 != in.Received.DataSetSHA256 || in2.Received.CRC32C != in.Received.CRC32C {
		t.Fatalf("after reindex the row keeps %+v, want %+v", in2.Received, in.Received)
	}
	if st, err := svc2.Store(ctx, bytes.NewReader(received), ""); err != nil || !st.Duplicate {
		t.Fatalf("re-send after reindex: %+v, %v; want a duplicate", st, err)
	}
}

// outcomeOf returns the count of outcome for ts.
func outcomeOf(svc *archive.Service, ts, outcome string) uint64 {
	for _, s := range svc.CompressionStats() {
		if s.Syntax == ts {
			return s.Instances[outcome]
		}
	}
	return 0
}

// storedAsReceived stores path with svc and checks that the object is
// the file received, byte for byte, with no Received in its row.
func storedAsReceived(t *testing.T, svc *archive.Service, store storage.Store, path string) {
	t.Helper()
	ctx := context.Background()
	received, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := svc.Store(ctx, bytes.NewReader(received), "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Compressed != "" {
		t.Fatalf("compressed in %s", st.Compressed)
	}
	in, err := svc.InstanceBySOP(ctx, st.SOP)
	if err != nil {
		t.Fatal(err)
	}
	if _, obj := object(t, store, in); !bytes.Equal(obj, received) || in.Received != nil {
		t.Fatalf("the object is not the file received (received row %+v)", in.Received)
	}
}

// TestCompressAtIngestWithoutEncoder: the default build has no JPEG-LS
// or JPEG 2000 encoder: a party asking for one gets its files stored as
// received, and the store succeeds.
func TestCompressAtIngestWithoutEncoder(t *testing.T) {
	set := codec.NewSet() // a build without the encoder asked (as plain go build lacks JPEG-LS)
	svc, store, _ := newCompressing(t, set, codec.JPEGLSLossless)
	n := codectest.Natives(t)[0]
	storedAsReceived(t, svc, store, n.Path)
	if got := outcomeOf(svc, codec.JPEGLSLossless, archive.OutcomeNoEncoder); got != 1 {
		t.Fatalf("no_encoder %d, want 1 (%+v)", got, svc.CompressionStats())
	}
}

// TestCompressAtIngestKeepsCompressed: a file received compressed is
// stored as received, whatever the syntax asked.
func TestCompressAtIngestKeepsCompressed(t *testing.T) {
	set := codecs.New()
	f := codectest.Files(t, codec.JPEGLossless)[0]
	svc, store, _ := newCompressing(t, set, codec.RLELossless)
	storedAsReceived(t, svc, store, f.Path)
	if got := outcomeOf(svc, codec.RLELossless, archive.OutcomeAlreadyCompressed); got != 1 {
		t.Fatalf("already_compressed %d, want 1 (%+v)", got, svc.CompressionStats())
	}
}

// lossyRLE is the real RLE encoder with one bit of each frame flipped
// after encoding: the decode no longer gives the received pixels, which
// the check before storing must catch.
type lossyRLE struct{ codec.Encoder }

func (e lossyRLE) Encode(px []byte, f codec.Frame) ([]byte, error) {
	b, err := e.Encoder.Encode(px, f)
	if err == nil && len(b) > 100 {
		b[len(b)-2] ^= 0x01
	}
	return b, err
}

// TestCompressAtIngestMismatch: an encoder whose output does not decode
// to the received pixels: the file is stored as received and counted.
func TestCompressAtIngestMismatch(t *testing.T) {
	real := codecs.New()
	enc, _ := real.Encoder(codec.RLELossless)
	dec, _ := real.Decoder(codec.RLELossless)
	set := codec.NewSet()
	set.AddEncoder(lossyRLE{enc}, codec.RLELossless)
	set.AddDecoder(dec, codec.RLELossless)
	svc, store, _ := newCompressing(t, set, codec.RLELossless)
	for _, n := range codectest.Natives(t) {
		if strings.HasPrefix(n.Name, "synthetic-s16") {
			storedAsReceived(t, svc, store, n.Path)
		}
	}
	if got := outcomeOf(svc, codec.RLELossless, archive.OutcomeMismatch); got != 1 {
		t.Fatalf("mismatch %d, want 1 (%+v)", got, svc.CompressionStats())
	}
}
