package dicomweb_test

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/storagetest"
)

const explicitLE = "1.2.840.10008.1.2.1"

// fileFrames reads a Part 10 file and returns its header and frames.
func fileFrames(t *testing.T, b []byte) (*dcm.Header, [][]byte) {
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

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTranscodeToNative stores each compressed file that the default
// build decodes and asks for it in Explicit VR Little Endian: frames,
// bulk data and the instance must hold the original's native pixels byte
// for byte (the syntaxes are lossless), say so in each part's
// Content-Type, and the instance must be a file DCMTK reads; /rendered
// and /thumbnail answer pictures.
func TestTranscodeToNative(t *testing.T) {
	set := gwtest.DefaultCodecs()
	for _, f := range codectest.Files(t) {
		if _, ok := set.Decoder(f.Syntax); !ok {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			gw := gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{})
			stored := read(t, f.Path)
			if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: stored}}); resp.StatusCode != http.StatusOK {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
			h, _ := fileFrames(t, stored)
			if h.TransferSyntax != f.Syntax {
				t.Fatalf("stored syntax %s, want %s", h.TransferSyntax, f.Syntax)
			}
			_, want := fileFrames(t, read(t, f.Source))
			var ref [][]byte // lossy: the reference decoder's pixels
			// DCMTK's dcmdjpeg for JPEG (its colour conversion to RGB is
			// the decoders'), GDCM for the others but HTJ2K, which GDCM
			// 3.0 does not read (codec/openjpeg's own tests compare it
			// with opj_decompress).
			if f.Lossy && f.Syntax != codec.HTJ2K {
				raw := filepath.Join(t.TempDir(), "raw.dcm")
				if f.Syntax == codec.JPEGBaseline || f.Syntax == codec.JPEGExtended {
					dcmtktest.Run(t, "dcmdjpeg", "-q", f.Path, raw)
				} else {
					dcmtktest.Run(t, "gdcmconv", "--raw", f.Path, raw)
				}
				_, ref = fileFrames(t, read(t, raw))
				// The reference keeps the codestream's precision, the
				// gateway's decoders clamp to BitsStored.
				fr, _ := codectest.Frames(t, f.Path)
				for i := range ref {
					ref[i] = codectest.Clamp(ref[i], fr)
				}
			}
			base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
			nums := make([]string, len(want))
			for i := range nums {
				nums[i] = fmt.Sprint(i + 1)
			}
			native := `multipart/related; type="application/octet-stream"; transfer-syntax=` + explicitLE

			parts := retrieveParts(t, base+"/frames/"+strings.Join(nums, ","), native)
			checkNativeParts(t, "frames", parts, want, f.Lossy)
			if ref != nil {
				for i, p := range parts {
					if d := sampleDiff(p.body, ref[i], h.Dataset); d > 1 {
						t.Errorf("frame %d differs from the reference decoder by up to %d per sample (±1 allowed)", i+1, d)
					}
				}
			}
			parts = retrieveParts(t, base+"/bulkdata/7FE00010", native)
			checkNativeParts(t, "bulk data", parts, want, f.Lossy)

			parts = retrieveParts(t, base, `multipart/related; type="application/dicom"; transfer-syntax=`+explicitLE)
			if len(parts) != 1 || !strings.Contains(parts[0].contentType, "transfer-syntax="+explicitLE) {
				t.Fatalf("instance: %d parts, Content-Type %q", len(parts), parts[0].contentType)
			}
			got, frames := fileFrames(t, parts[0].body)
			if got.TransferSyntax != explicitLE || got.Frames.Encapsulated {
				t.Fatalf("instance retrieved in %s (encapsulated %v)", got.TransferSyntax, got.Frames.Encapsulated)
			}
			checkFrames(t, "instance", frames, want, f.Lossy)
			// The data set is the stored one, but for what the decode changed.
			for _, tag := range []string{"00080018", "00100010", "00280010", "00280011", "00280100", "00280103", "00282110"} {
				if g, w := got.Dataset.String(tag), h.Dataset.String(tag); g != w {
					t.Errorf("instance: (%s) = %q, the stored one has %q", tag, g, w)
				}
			}
			wantPhotometric := h.Dataset.String("00280004")
			if strings.HasPrefix(wantPhotometric, "YBR") && f.Syntax != codec.RLELossless {
				wantPhotometric = "RGB" // the decoders' colour transform
			}
			if g := got.Dataset.String("00280004"); g != wantPhotometric {
				t.Errorf("instance: photometric %q, want %q", g, wantPhotometric)
			}
			// WADO-URI transcodes the same way.
			resp, uri := get(t, gw.URL+"/wado?requestType=WADO&contentType=application/dicom&transferSyntax="+explicitLE+
				"&studyUID="+h.StudyUID+"&seriesUID="+h.SeriesUID+"&objectUID="+h.SOPUID, "")
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "transfer-syntax="+explicitLE) || !bytes.Equal(uri, parts[0].body) {
				t.Errorf("WADO-URI transferSyntax=%s: %d %q, same file as WADO-RS: %v", explicitLE, resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Equal(uri, parts[0].body))
			}
			// A third-party reader agrees: DCMTK reads the rewritten file.
			out := filepath.Join(t.TempDir(), "native.dcm")
			if err := os.WriteFile(out, parts[0].body, 0o600); err != nil {
				t.Fatal(err)
			}
			js := dcmtktest.JSON(t, out)
			if _, ok := js["7FE00010"]; !ok {
				t.Error("DCMTK finds no Pixel Data in the transcoded instance")
			}

			study := gw.URL + "/studies/" + h.StudyUID
			wadoURI := gw.URL + "/wado?requestType=WADO&contentType=image/jpeg&studyUID=" + h.StudyUID + "&seriesUID=" + h.SeriesUID + "&objectUID=" + h.SOPUID
			for _, u := range []string{base + "/rendered", base + "/thumbnail", base + "/frames/1/rendered", study + "/rendered", study + "/thumbnail",
				study + "/series/" + h.SeriesUID + "/thumbnail", wadoURI} {
				res := strings.TrimPrefix(u, gw.URL)
				resp, body := get(t, u, "image/jpeg")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d %s", res, resp.StatusCode, body)
				}
				img, _, err := image.Decode(bytes.NewReader(body))
				if err != nil || img.Bounds().Dx() == 0 {
					t.Fatalf("%s: not a picture: %v", res, err)
				}
			}
			// As stored, still: nothing was changed by the decodes.
			assertStoredBytes(t, base, stored)
		})
	}
}

func checkNativeParts(t *testing.T, what string, parts []part, want [][]byte, lossy bool) {
	t.Helper()
	got := make([][]byte, len(parts))
	for i, p := range parts {
		if !strings.HasPrefix(p.contentType, "application/octet-stream") || !strings.Contains(p.contentType, "transfer-syntax="+explicitLE) {
			t.Errorf("%s part %d: Content-Type %q does not say what it holds", what, i+1, p.contentType)
		}
		got[i] = p.body
	}
	checkFrames(t, what, got, want, lossy)
}

func checkFrames(t *testing.T, what string, got, want [][]byte, lossy bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		switch {
		case len(got[i]) != len(want[i]):
			t.Errorf("%s: frame %d is %d bytes, the original %d", what, i+1, len(got[i]), len(want[i]))
		case !lossy && !bytes.Equal(got[i], want[i]):
			t.Errorf("%s: frame %d differs from the original's native pixels", what, i+1)
		}
	}
}

// sampleDiff is the largest difference of two native frames, sample by
// sample (16-bit little endian words when BitsAllocated is 16).
func sampleDiff(a, b []byte, ds dcm.Dataset) int {
	if len(a) != len(b) {
		return 1 << 20
	}
	bits, _ := ds.Int("00280100")
	signed, _ := ds.Int("00280103")
	d := 0
	for i := 0; i < len(a); {
		var x, y int
		if bits == 16 {
			x, y = int(uint16(a[i])|uint16(a[i+1])<<8), int(uint16(b[i])|uint16(b[i+1])<<8)
			if signed == 1 {
				x, y = int(int16(x)), int(int16(y))
			}
			i += 2
		} else {
			x, y = int(a[i]), int(b[i])
			i++
		}
		d = max(d, x-y, y-x)
	}
	return d
}

// assertStoredBytes checks that the instance at u is served as stored.
func assertStoredBytes(t *testing.T, u string, stored []byte) {
	t.Helper()
	parts := retrieveParts(t, u, `multipart/related; type="application/dicom"; transfer-syntax=*`)
	if len(parts) != 1 || !bytes.Equal(parts[0].body, stored) {
		t.Fatalf("the stored instance changed (%d parts)", len(parts))
	}
}

// TestTranscodeWithoutDecoder: a build without a decoder for the stored
// syntax answers 406 naming it, for frames, instances and pictures, and
// still serves the frames as stored.
func TestTranscodeWithoutDecoder(t *testing.T) {
	f := codectest.Files(t, codec.RLELossless)[0]
	gw := gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{Codecs: codec.NewSet()})
	stored := read(t, f.Path)
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: stored}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	h, _ := fileFrames(t, stored)
	base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
	for _, tc := range []struct{ path, accept string }{
		{"/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=` + explicitLE},
		{"", `multipart/related; type="application/dicom"; transfer-syntax=` + explicitLE},
		{"/rendered", "image/jpeg"},
		{"/thumbnail", "image/png"},
	} {
		resp, body := get(t, base+tc.path, tc.accept)
		if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "no decoder") || !strings.Contains(string(body), f.Syntax) {
			t.Errorf("%s %s: %d %s, want 406 naming the missing decoder", tc.path, tc.accept, resp.StatusCode, body)
		}
	}
	parts := retrieveParts(t, base+"/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	if len(parts) != 1 || !strings.Contains(parts[0].contentType, f.Syntax) {
		t.Errorf("frames as stored: %d parts", len(parts))
	}
}

// TestTranscodeCorruptFrame stores, for each syntax the default build
// decodes, a file whose first frame starts with 32 bytes of 0xFF (no
// codestream marker, an RLE header of impossible offsets): asking for it
// decoded or rendered is a 422 that says why (no 406, no 500), and the
// stored bytes are served unchanged as stored.
func TestTranscodeCorruptFrame(t *testing.T) {
	set := gwtest.DefaultCodecs()
	seen := map[string]bool{}
	for _, f := range codectest.Files(t) {
		if _, ok := set.Decoder(f.Syntax); !ok || seen[f.Syntax] {
			continue
		}
		seen[f.Syntax] = true
		t.Run(f.Name, func(t *testing.T) {
			stored := read(t, f.Path)
			h, _ := fileFrames(t, stored)
			r := h.Frames.Frames[0][0]
			bad := bytes.Clone(stored)
			copy(bad[r.Offset:r.Offset+min(32, r.Length)], bytes.Repeat([]byte{0xFF}, 32))
			gw := gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{})
			if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: bad}}); resp.StatusCode != http.StatusOK {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
			base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
			for _, tc := range []struct{ path, accept string }{
				{"/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=` + explicitLE},
				{"/frames/1", "application/octet-stream"},
				{"", `multipart/related; type="application/dicom"; transfer-syntax=` + explicitLE},
				{"/rendered", "image/jpeg"},
				{"/thumbnail", "image/jpeg"},
			} {
				resp, body := get(t, base+tc.path, tc.accept)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "does not decode") {
					t.Errorf("%s %s: %d %s, want 422 with the reason", tc.path, tc.accept, resp.StatusCode, body)
				}
			}
			t.Logf("the reason given: %s", func() string { _, b := get(t, base+"/frames/1", "application/octet-stream"); return string(b) }())
			assertStoredBytes(t, base, bad)
		})
	}
}

// TestTranscodeEncode asks for native instances in each compressed
// syntax the build encodes (RLE Lossless in the default build, JPEG 2000
// Lossless and JPEG-LS Lossless with cgocodecs): frames and the instance
// say what they hold, and a third-party decoder (DCMTK's dcmdrle and
// dcmdjpls, GDCM's gdcmconv --raw) gives back the original pixels from
// the encoded file.
func TestTranscodeEncode(t *testing.T) {
	set := gwtest.DefaultCodecs()
	sources := map[string]bool{}
	for _, f := range codectest.Files(t, codec.RLELossless) {
		sources[f.Source] = true
	}
	for _, ts := range set.Encodable() {
		for src := range sources {
			t.Run(ts+" "+filepath.Base(src), func(t *testing.T) {
				gw := gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{})
				native := read(t, src)
				if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: native}}); resp.StatusCode != http.StatusOK {
					t.Fatalf("STOW: %d %s", resp.StatusCode, body)
				}
				h, want := fileFrames(t, native)
				base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
				media := map[string]string{codec.RLELossless: "image/x-dicom-rle", codec.JPEG2000Lossless: "image/jp2", codec.JPEGLSLossless: "image/jls"}[ts]
				if media != "" {
					parts := retrieveParts(t, base+"/frames/1", `multipart/related; type="`+media+`"; transfer-syntax=`+ts)
					if len(parts) != 1 || !strings.HasPrefix(parts[0].contentType, media+"; transfer-syntax="+ts) {
						t.Fatalf("frames: %d parts (%q)", len(parts), parts[0].contentType)
					}
				}
				parts := retrieveParts(t, base, `multipart/related; type="application/dicom"; transfer-syntax=`+ts)
				if len(parts) != 1 || !strings.Contains(parts[0].contentType, "transfer-syntax="+ts) {
					t.Fatalf("instance: %d parts", len(parts))
				}
				if got, _ := fileFrames(t, parts[0].body); got.TransferSyntax != ts || !got.Frames.Encapsulated {
					t.Fatalf("instance in %s", got.TransferSyntax)
				}
				enc := filepath.Join(t.TempDir(), "enc.dcm")
				if err := os.WriteFile(enc, parts[0].body, 0o600); err != nil {
					t.Fatal(err)
				}
				// A third-party decoder of each syntax: DCMTK's for RLE and
				// JPEG-LS, GDCM's for JPEG 2000.
				dec := filepath.Join(t.TempDir(), "dec.dcm")
				tool := map[string][]string{codec.RLELossless: {"dcmdrle", "-q"}, codec.JPEGLSLossless: {"dcmdjpls", "-q"}}[ts]
				if tool == nil {
					tool = []string{"gdcmconv", "--raw"}
				}
				dcmtktest.Run(t, tool[0], append(tool[1:], enc, dec)...)
				_, frames := fileFrames(t, read(t, dec))
				// Compared in the stored bits: the bits above HighBit of
				// signed 12-bit samples are sign extension, which the
				// codestream does not carry and decoders may not restore.
				checkFrames(t, tool[0]+" of the encoded instance", codectest.StoredBits(frames, h.Dataset), codectest.StoredBits(want, h.Dataset), false)
			})
		}
	}
}

// TestTranscodeImplicit: instances stored in Implicit VR Little Endian
// (dcmconv +ti of real files; one without pixel data, written by
// dump2dcm) are served in Explicit VR Little Endian, and with pixel data
// in RLE, as files DCMTK reads, with the original pixels.
func TestTranscodeImplicit(t *testing.T) {
	gw := gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{})
	var srcs []string
	seen := map[string]bool{}
	for _, f := range codectest.Files(t, codec.RLELossless) {
		if name := filepath.Base(f.Source); !seen[name] && !strings.Contains(name, "synthetic") {
			seen[name] = true
			srcs = append(srcs, dcmtktest.Convert(t, f.Source, "+ti"))
		}
	}
	sr := dcmtktest.Dump2DCM(t, []byte(`(0008,0016) UI =BasicTextSRStorage
(0008,0018) UI [1.2.826.0.1.3680043.10.1078.99.1.3]
(0008,0060) CS [SR]
(0010,0010) PN [Zhang^San]
(0020,000d) UI [1.2.826.0.1.3680043.10.1078.99.1]
(0020,000e) UI [1.2.826.0.1.3680043.10.1078.99.1.2]
(0040,a730) SQ (Sequence with undefined length)
  (fffe,e000) na (Item with undefined length)
    (0040,a040) CS [TEXT]
    (0040,a160) UT [no finding]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
`), "+ti")
	srcs = append(srcs, sr)
	for _, src := range srcs {
		native := read(t, src)
		h, want := fileFrames(t, native)
		if h.TransferSyntax != dcm.ImplicitVRLittleEndian {
			t.Fatalf("%s is in %s", src, h.TransferSyntax)
		}
		if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: native}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
		targets := []string{explicitLE}
		if len(want) > 0 {
			targets = append(targets, codec.RLELossless)
		}
		for _, ts := range targets {
			parts := retrieveParts(t, base, `multipart/related; type="application/dicom"; transfer-syntax=`+ts)
			if len(parts) != 1 || !strings.Contains(parts[0].contentType, "transfer-syntax="+ts) {
				t.Fatalf("%s in %s: %d parts", h.SOPUID, ts, len(parts))
			}
			out := filepath.Join(t.TempDir(), "out.dcm")
			if err := os.WriteFile(out, parts[0].body, 0o600); err != nil {
				t.Fatal(err)
			}
			got, _ := fileFrames(t, parts[0].body)
			if got.TransferSyntax != ts || got.Dataset.String("00100010") != h.Dataset.String("00100010") {
				t.Errorf("%s in %s: read back as %s, patient %q", h.SOPUID, ts, got.TransferSyntax, got.Dataset.String("00100010"))
			}
			if ts == explicitLE { // dcm2json reads native files only
				if _, ok := dcmtktest.JSON(t, out)["00100010"]; !ok {
					t.Errorf("%s in %s: DCMTK reads no PatientName", h.SOPUID, ts)
				}
			}
			if len(want) == 0 {
				continue
			}
			dec := filepath.Join(t.TempDir(), "dec.dcm")
			dcmtktest.Run(t, "gdcmconv", "--raw", out, dec)
			_, frames := fileFrames(t, read(t, dec))
			checkFrames(t, h.SOPUID+" in "+ts, frames, want, false)
		}
	}
}
