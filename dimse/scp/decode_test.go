package scp_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// decodeRig is a DICOM service with DecodingTranscoder on an archive with
// the build's codecs, holding the files given.
func decodeRig(t *testing.T, destPort int, files ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}, Codecs: gwtest.DefaultCodecs()})
	var stored []*archive.Stored
	for _, f := range files {
		st, err := svc.Store(context.Background(), bytes.NewReader(f), "")
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, st)
	}
	if err := svc.Commit(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	aes, err := access.NewAEs([]access.AE{{AET: "WS", Host: "127.0.0.1", Port: destPort, Institution: "h1",
		Allow: []access.Operation{access.OpQuery, access.OpRetrieve}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(),
		Transcoder: scp.DecodingTranscoder{Archive: svc}, Server: dimse.Options{SpoolDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	ln := serveLoopback(t, s)
	return ln.Addr().String()
}

// receivedFrames reads the native frames of a data set a destination
// received in syntax ts.
func receivedFrames(t *testing.T, ds []byte, sop, ts string) (*dcm.Header, [][]byte) {
	t.Helper()
	f := part10(sop, ts, ds)
	h, err := dcm.ReadHeader(bytes.NewReader(f), int64(len(f)), dcm.Limits{})
	if err != nil {
		t.Fatalf("received data set: %v", err)
	}
	if h.Frames.Encapsulated {
		t.Fatalf("received encapsulated pixel data in %s", ts)
	}
	var frames [][]byte
	for _, rs := range h.Frames.Frames {
		var b []byte
		for _, r := range rs {
			b = append(b, f[r.Offset:r.Offset+r.Length]...)
		}
		frames = append(frames, b)
	}
	return h, frames
}

// TestMoveDecodesToNative moves each lossless file of a third-party
// encoder that the build decodes to destinations that accept only
// Explicit or only Implicit VR Little Endian: the instance goes decoded,
// its frames byte for byte the original's native pixels, its SOP Instance
// UID and other attributes as stored.
func TestMoveDecodesToNative(t *testing.T) {
	set := gwtest.DefaultCodecs()
	done := map[string]bool{}
	for _, f := range codectest.Files(t) {
		if _, ok := set.Decoder(f.Syntax); !ok || f.Lossy || done[f.Syntax] {
			continue
		}
		done[f.Syntax] = true // one file per syntax: each rig is a new archive
		t.Run(f.Name, func(t *testing.T) {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			_, want := codectest.Frames(t, f.Source)
			for _, ts := range []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian} {
				dest := &storeSCP{syntaxes: []string{ts}, anyClass: true}
				addr := decodeRig(t, dest.start(t), b)
				rig := &retrieveRig{addr: addr}
				c := rig.move(t, "WS", "WS", studyKeys(h.StudyUID))
				r := readRsp(t, c)
				for r.status == 0xFF00 {
					r = readRsp(t, c)
				}
				if r.status != 0 || r.completed != 1 {
					t.Fatalf("to %s: %+v, want 0000 with 1 completed", ts, r)
				}
				if dest.ts[h.SOPUID] != ts {
					t.Fatalf("received in %q, want %s", dest.ts[h.SOPUID], ts)
				}
				got, frames := receivedFrames(t, dest.got[h.SOPUID], h.SOPUID, ts)
				if len(frames) != len(want) {
					t.Fatalf("to %s: %d frames, want %d", ts, len(frames), len(want))
				}
				for i := range want {
					if !bytes.Equal(frames[i], want[i]) {
						t.Errorf("to %s: frame %d (%d bytes) differs from the original's native pixels (%d)", ts, i+1, len(frames[i]), len(want[i]))
					}
				}
				for _, tag := range []string{"00080018", "0020000D", "00100010", "00280010", "00280100", "00280103"} {
					if g, w := got.Dataset.String(tag), h.Dataset.String(tag); g != w {
						t.Errorf("to %s: (%s) = %q, stored %q", ts, tag, g, w)
					}
				}
			}
		})
	}
	if len(done) == 0 {
		t.Fatal("the build decodes no lossless syntax of codectest")
	}
}

// TestMoveUndecodable: an instance stored in a syntax the build decodes
// whose pixel data does not decode fails its sub-operation with the
// reason, before anything is sent; the destination receives nothing.
func TestMoveUndecodable(t *testing.T) {
	f := codectest.Files(t, "1.2.840.10008.1.2.4.70")[0]
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// The first fragment's scan data cut to zeros (the markers stay).
	r := h.Frames.Frames[0][0]
	bad := bytes.Clone(b)
	for i := r.Offset + r.Length/2; i < r.Offset+r.Length-2; i++ {
		bad[i] = 0xFF
	}
	dest := &storeSCP{syntaxes: []string{dcm.ExplicitVRLittleEndian}, anyClass: true}
	rig := &retrieveRig{addr: decodeRig(t, dest.start(t), bad)}
	c := rig.move(t, "WS", "WS", studyKeys(h.StudyUID))
	rs := readRsp(t, c)
	for rs.status == 0xFF00 {
		rs = readRsp(t, c)
	}
	if rs.status != 0xA702 || rs.failed != 1 || !strings.Contains(rs.comment, "does not decode") {
		t.Errorf("%+v, want A702, 1 failed, the reason", rs)
	}
	if len(dest.got) != 0 {
		t.Errorf("destination received %d instances", len(dest.got))
	}
}
