package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// ohifV3Frames is the Accept header of OHIF v3's default data source
// (omitQuotationForMultipartRequest: true): the type is not quoted.
const ohifV3Frames = "multipart/related; type=application/octet-stream; transfer-syntax=*"

// TestOHIFv3CompressedFrames stores real images compressed by DCMTK and
// GDCM (third-party encoders) in every syntax they write and asks each frame as
// OHIF v3 does: the answer is the stored fragment, byte for byte, with the
// stored transfer syntax named in the part's Content-Type.
func TestOHIFv3CompressedFrames(t *testing.T) {
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	encoders := []struct {
		name, tool string
		args       []string
		ts         string
	}{
		{"JPEG Lossless SV1", "dcmcjpeg", []string{"+e1"}, "1.2.840.10008.1.2.4.70"},
		{"JPEG Lossless", "dcmcjpeg", []string{"+el", "+sv", "6"}, "1.2.840.10008.1.2.4.57"},
		{"JPEG-LS lossless", "dcmcjpls", []string{"+el"}, "1.2.840.10008.1.2.4.80"},
		{"JPEG-LS near-lossless", "dcmcjpls", []string{"+en"}, "1.2.840.10008.1.2.4.81"},
		{"RLE", "dcmcrle", nil, "1.2.840.10008.1.2.5"},
		{"JPEG 2000 lossless", "gdcmconv", []string{"--j2k"}, "1.2.840.10008.1.2.4.90"},
		{"JPEG 2000", "gdcmconv", []string{"--j2k", "--lossy", "-r", "10"}, "1.2.840.10008.1.2.4.91"},
	}
	for _, in := range []string{"3.dcm", "5.dcm"} { // MR 176x176; CT, 2 frames of 512x512
		for _, enc := range encoders {
			t.Run(in+"/"+enc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "c.dcm")
				args := enc.args
				if enc.tool != "gdcmconv" {
					args = append([]string{"-q"}, args...)
				}
				dcmtktest.Run(t, enc.tool, append(args, filepath.Join(src, in), out)...)
				// Fresh UIDs: every encoding is an instance of its own.
				dcmtktest.Run(t, "dcmodify", "-q", "-nb", "-gst", "-gse", "-gin", out)
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
				if err != nil || h.TransferSyntax != enc.ts {
					t.Fatalf("DCMTK's file: %v, syntax %q, want %s", err, h.TransferSyntax, enc.ts)
				}
				if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, out)); resp.StatusCode != 200 {
					t.Fatalf("STOW: %d %s", resp.StatusCode, body)
				}
				base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
				frames := 1
				if in == "5.dcm" {
					frames = 2
				}
				for f := 1; f <= frames; f++ {
					resp, body := gwtest.Do(t, "GET", base+"/frames/"+string(rune('0'+f)), map[string]string{"Accept": ohifV3Frames}, nil)
					if resp.StatusCode != 200 {
						t.Fatalf("frame %d with OHIF v3's Accept: %d %s", f, resp.StatusCode, body)
					}
					pixels, partType := onePart(t, body)
					if want := "application/octet-stream; transfer-syntax=" + enc.ts; partType != want {
						t.Errorf("frame %d part Content-Type %q, want %q", f, partType, want)
					}
					if len(pixels) < 100 || !bytes.Contains(b, pixels) {
						t.Errorf("frame %d: %d bytes that are not a fragment of the stored file", f, len(pixels))
					}
				}
			})
		}
	}
}

// onePart reads a one-part multipart answer as OHIF's loader does: the
// boundary from the first line, the part's Content-Type header, and the
// bytes up to the CRLF before the closing boundary.
func onePart(t *testing.T, body []byte) (data []byte, contentType string) {
	t.Helper()
	first, rest, ok := bytes.Cut(body, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(first, []byte("--")) {
		t.Fatalf("answer does not start with a boundary: %.80q", body)
	}
	head, payload, ok := bytes.Cut(rest, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("part has no header end")
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Content-Type: "); ok {
			contentType = v
		}
	}
	end := bytes.Index(payload, append([]byte("\r\n"), first...))
	if end < 0 {
		t.Fatal("no closing boundary")
	}
	return payload[:end], contentType
}

// TestStowUnquotedType: a STOW whose Content-Type gives the type as a
// token-like value without quotes, as several PACS do, is stored.
func TestStowUnquotedType(t *testing.T) {
	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	body, ct := gwtest.Multipart([]gwtest.Part{{Body: gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.77.3",
		gwtest.Minimal("1.2.826.0.1.77", "1.2.826.0.1.77.2", "1.2.826.0.1.77.3"))}})
	ct = strings.Replace(ct, `type="application/dicom"`, "Type=application/dicom", 1)
	resp, out := gwtest.Do(t, "POST", gw.URL+"/studies", map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}, bytes.NewReader(body))
	if resp.StatusCode != 200 {
		t.Fatalf("STOW with %q: %d %s", ct, resp.StatusCode, out)
	}
}

// TestEncapsulatedPixelDataBulk: the BulkDataURI of encapsulated Pixel Data
// answers its frames as stored, one part each naming the transfer syntax,
// as the frames route does (it answered the raw item stream, offset table
// and item headers included, as if it were native pixels; dicomweb-client
// with dcmjs found 20 bytes too many). Native Pixel Data stays one value.
func TestEncapsulatedPixelDataBulk(t *testing.T) {
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	out := filepath.Join(t.TempDir(), "jls.dcm")
	dcmtktest.Run(t, "dcmcjpls", "-q", "+el", filepath.Join(src, "5.dcm"), out) // CT, 2 frames
	dcmtktest.Run(t, "dcmodify", "-q", "-nb", "-gst", "-gse", "-gin", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, out)); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
	_, body := gwtest.Do(t, "GET", base+"/metadata", map[string]string{"Accept": "application/dicom+json"}, nil)
	var md []dcm.Dataset
	if err := json.Unmarshal(body, &md); err != nil || len(md) != 1 || md[0]["7FE00010"] == nil || md[0]["7FE00010"].BulkDataURI == "" {
		t.Fatalf("metadata has no PixelData BulkDataURI: %v %.200s", err, body)
	}
	uri := md[0]["7FE00010"].BulkDataURI
	resp, body := gwtest.Do(t, "GET", uri, map[string]string{"Accept": ohifV3Frames}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("bulk data: %d %s", resp.StatusCode, body)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var frames [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ct, want := p.Header.Get("Content-Type"), "application/octet-stream; transfer-syntax="+h.TransferSyntax; ct != want {
			t.Errorf("part Content-Type %q, want %q", ct, want)
		}
		f, _ := io.ReadAll(p)
		frames = append(frames, f)
	}
	if len(frames) != 2 {
		t.Fatalf("%d parts, want the 2 frames", len(frames))
	}
	for i, f := range frames {
		// A JPEG-LS frame starts with SOI (FFD8), not an item tag (FFFE,E000).
		if !bytes.HasPrefix(f, []byte{0xFF, 0xD8}) || !bytes.Contains(b, f) {
			t.Errorf("frame %d: %d bytes starting %x, not a fragment of the stored file", i+1, len(f), f[:min(len(f), 8)])
		}
	}
	// Asked as native pixels, it is refused with a message, not sent as items.
	if resp, body := gwtest.Do(t, "GET", uri, map[string]string{"Accept": "application/octet-stream"}, nil); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("bulk data as application/octet-stream: %d %.80q", resp.StatusCode, body)
	}
}

// TestUniversalWildcard: PatientName=* matches every study, one whose
// PatientName is empty included ("*" matches any sequence of characters,
// including a zero length value: PS3.4 C.2.2.2.4).
func TestUniversalWildcard(t *testing.T) {
	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	body, ct := gwtest.Multipart([]gwtest.Part{{Body: gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.78.3",
		gwtest.Minimal("1.2.826.0.1.78", "1.2.826.0.1.78.2", "1.2.826.0.1.78.3"))}})
	if resp, out := gwtest.Do(t, "POST", gw.URL+"/studies", map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}, bytes.NewReader(body)); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, out)
	}
	for _, q := range []string{"PatientName=*", "PatientName=**", "PatientName=*&fuzzymatching=true", "AccessionNumber=*"} {
		resp, out := gwtest.Do(t, "GET", gw.URL+"/studies?"+q, map[string]string{"Accept": "application/dicom+json"}, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(out), "1.2.826.0.1.78") {
			t.Errorf("%s: %d, the study without a name is missing: %s", q, resp.StatusCode, out)
		}
	}
	if resp, out := gwtest.Do(t, "GET", gw.URL+"/studies?PatientName=A*", map[string]string{"Accept": "application/dicom+json"}, nil); resp.StatusCode != 200 || strings.Contains(string(out), "1.2.826.0.1.78") {
		t.Errorf("PatientName=A* found the study without a name: %s", out)
	}
}
