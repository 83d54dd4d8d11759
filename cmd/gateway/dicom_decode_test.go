package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// nativeFrames reads a Part 10 file's header and native frames.
func nativeFrames(t *testing.T, b []byte) (*dcm.Header, [][]byte) {
	t.Helper()
	h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, rs := range h.Frames.Frames {
		var f []byte
		for _, r := range rs {
			f = append(f, b[r.Offset:r.Offset+r.Length]...)
		}
		frames = append(frames, f)
	}
	return h, frames
}

// TestDICOMMoveDecodes: a gateway process holding JPEG Lossless, JPEG-LS
// and JPEG 2000 lossless files of third-party encoders (DCMTK, GDCM),
// moved by DCMTK's movescu to DCMTK storescp receivers that accept only
// native syntaxes (storescp's default: the uncompressed ones; +xi:
// Implicit VR Little Endian alone): each instance arrives decoded, its
// pixel data byte for byte the original's native pixels, its UIDs kept.
// A syntax the build under test cannot decode (JPEG-LS and JPEG 2000
// without -tags cgocodecs) fails its sub-operation and says why.
func TestDICOMMoveDecodes(t *testing.T) {
	dcmtktest.Tool(t, "movescu")
	set := codecs.New()
	var files []codectest.File
	var syntaxes []string
	for _, f := range codectest.Files(t, codec.JPEGLosslessSV1, codec.JPEGLSLossless, codec.JPEG2000Lossless) {
		if len(files) == 0 || files[len(files)-1].Syntax != f.Syntax {
			files = append(files, f) // the first of each syntax
			syntaxes = append(syntaxes, f.Syntax)
		}
	}
	if len(files) != 3 {
		t.Fatalf("codectest made %v, want the three syntaxes", syntaxes)
	}
	// Each file its own study, series and instance (the encoders keep the
	// source's UIDs, which the three share).
	dir := t.TempDir()
	uid := func(i int, level string) string {
		return fmt.Sprintf("1.2.826.0.1.3680043.10.1137.20.%d.%s", i+1, level)
	}
	var paths []string
	for i, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
		os.WriteFile(p, b, 0o600)
		dcmtktest.Run(t, "dcmodify", "-nb", "-m", "(0020,000d)="+uid(i, "1"), "-m", "(0020,000e)="+uid(i, "2"), "-m", "(0008,0018)="+uid(i, "3"), p)
		paths = append(paths, p)
	}

	wsPort, wsDir := startStoreSCP(t)
	implPort, implDir := startStoreSCP(t, "+xi")
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: PACS, host: 127.0.0.1, port: 4243, institution: fahzu, allow: [store]}\n"+
		"- {aet: WS, host: 127.0.0.1, port: "+wsPort+", institution: fahzu, allow: [retrieve]}\n"+
		"- {aet: IMPL, host: 127.0.0.1, port: "+implPort+", institution: fahzu, allow: [retrieve]}\n"), 0o600)
	dicomAddr := freeAddr(t)
	startGateway(t, t.TempDir(), "--demo", "--dicom-listen", dicomAddr, "--dicom-aes", aes)
	host, port, _ := strings.Cut(dicomAddr, ":")
	// storescu proposes one compressed syntax a run: the file's.
	propose := map[string]string{codec.JPEGLosslessSV1: "-xs", codec.JPEGLSLossless: "-xt", codec.JPEG2000Lossless: "-xv"}
	for i, f := range files {
		if out, err := dcmtk(t, "storescu", propose[f.Syntax], "-aet", "PACS", "-aec", "IMGCLOUD", host, port, paths[i]); err != nil || strings.Contains(out, "Status") {
			t.Fatalf("storescu %s: %v\n%s", f.Name, err, out)
		}
	}
	for i, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			_, want := codectest.Frames(t, f.Source)
			_, decodes := set.Decoder(f.Syntax)
			for _, d := range []struct{ aet, dir, ts string }{{"WS", wsDir, dcm.ExplicitVRLittleEndian}, {"IMPL", implDir, dcm.ImplicitVRLittleEndian}} {
				verbose := "-v"
				if !decodes {
					verbose = "-d" // the final response's Error Comment
				}
				out, _ := dcmtk(t, "movescu", verbose, "-S", "-aet", "WS", "-aec", "IMGCLOUD", "-aem", d.aet,
					"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+uid(i, "1"), host, port)
				if !decodes {
					got, _ := filepath.Glob(filepath.Join(d.dir, "*"+uid(i, "3")))
					if !strings.Contains(out, "cannot decode") || len(got) != 0 {
						t.Errorf("to %s, a syntax this build does not decode: want a failed sub-operation that says why\n%s", d.aet, out)
					}
					continue
				}
				if !strings.Contains(out, "Final Move Response (Success)") {
					t.Fatalf("movescu to %s:\n%s", d.aet, out)
				}
				h, frames := nativeFrames(t, received(t, d.dir, uid(i, "3")))
				if h.TransferSyntax != d.ts || h.SOPUID != uid(i, "3") || h.StudyUID != uid(i, "1") {
					t.Errorf("to %s: received %s in %s, want %s in %s", d.aet, h.SOPUID, h.TransferSyntax, uid(i, "3"), d.ts)
				}
				if len(frames) != len(want) {
					t.Fatalf("to %s: %d frames, want %d", d.aet, len(frames), len(want))
				}
				for n := range want {
					if !bytes.Equal(frames[n], want[n]) {
						t.Errorf("to %s: frame %d (%d bytes) is not the original's native pixels (%d bytes)", d.aet, n+1, len(frames[n]), len(want[n]))
					}
				}
			}
		})
	}
}
