package dicomweb_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// videoInstance wraps a video elementary stream into a Video Endoscopic
// Image instance (PS3.3 A.32.7) of ts: 64x48, 10 frames, the stream cut
// into fragments of fragSize bytes (the last padded to an even length),
// an empty basic offset table. It returns the file and the stream as the
// pixel data holds it (with the pad byte, if any).
func videoInstance(t *testing.T, ts, study, series, sop string, stream []byte, fragSize int) (file, pixels []byte) {
	t.Helper()
	el := gwtest.Elem
	str := gwtest.Str
	var ds bytes.Buffer
	ds.Write(el(0x0008, 0x0016, "UI", str("1.2.840.10008.5.1.4.1.1.77.1.1.1", 0)))
	ds.Write(el(0x0008, 0x0018, "UI", str(sop, 0)))
	ds.Write(el(0x0008, 0x0060, "CS", str("ES", ' ')))
	ds.Write(el(0x0010, 0x0010, "PN", str("VIDEO^TEST", ' ')))
	ds.Write(el(0x0010, 0x0020, "LO", str("VID-1", ' ')))
	ds.Write(el(0x0018, 0x1063, "DS", str("100", ' ')))
	ds.Write(el(0x0020, 0x000D, "UI", str(study, 0)))
	ds.Write(el(0x0020, 0x000E, "UI", str(series, 0)))
	ds.Write(el(0x0020, 0x0013, "IS", str("1", ' ')))
	ds.Write(el(0x0028, 0x0002, "US", us(3)))
	ds.Write(el(0x0028, 0x0004, "CS", str("YBR_PARTIAL_420", ' ')))
	ds.Write(el(0x0028, 0x0006, "US", us(0)))
	ds.Write(el(0x0028, 0x0008, "IS", str("10", ' ')))
	ds.Write(el(0x0028, 0x0009, "AT", us(0x0018, 0x1063)))
	ds.Write(el(0x0028, 0x0010, "US", us(48)))
	ds.Write(el(0x0028, 0x0011, "US", us(64)))
	ds.Write(el(0x0028, 0x0100, "US", us(8)))
	ds.Write(el(0x0028, 0x0101, "US", us(8)))
	ds.Write(el(0x0028, 0x0102, "US", us(7)))
	ds.Write(el(0x0028, 0x0103, "US", us(0)))
	pixels = bytes.Clone(stream)
	if len(pixels)%2 == 1 {
		pixels = append(pixels, 0)
	}
	item := func(b []byte) {
		ds.Write(us(0xFFFE, 0xE000))
		ds.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
		ds.Write(b)
	}
	ds.Write(us(0x7FE0, 0x0010))
	ds.WriteString("OB\x00\x00")
	ds.Write(binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF))
	item(nil)
	for rest := pixels; len(rest) > 0; {
		n := min(fragSize, len(rest))
		item(rest[:n])
		rest = rest[n:]
	}
	ds.Write(us(0xFFFE, 0xE0DD))
	ds.Write(make([]byte, 4))
	return part10(ts, sop, ds.Bytes()), pixels
}

// ffprobe reports the codec, size and decoded frame count of a stream
// with FFmpeg's ffprobe: a decoder that is not the gateway's. Without
// ffprobe it skips loudly; under CI=true it fails.
func ffprobe(t *testing.T, stream []byte) string {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		msg := "FFmpeg's ffprobe is not installed (run scripts/dcmtk.sh): the third-party decoding check was SKIPPED"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg)
		return ""
	}
	path := filepath.Join(t.TempDir(), "stream")
	if err := os.WriteFile(path, stream, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimRight(first, ",") // MPEG-2 adds an empty side-data column
}

// encodeVideo makes an elementary stream with Debian's FFmpeg from its own
// synthetic testsrc pattern (64x48, 10 frames at 10 fps, 4:2:0; no patient
// data), so that no binary is kept in the repository. Without ffmpeg it
// skips loudly; under CI=true it fails.
func encodeVideo(t *testing.T, codec string) []byte {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		msg := "FFmpeg is not installed (run scripts/dcmtk.sh): the video test was SKIPPED"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	args := map[string][]string{
		"h264":       {"-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "high", "-level", "4.1", "-g", "5", "-bf", "0", "-f", "h264"},
		"mpeg2video": {"-c:v", "mpeg2video", "-pix_fmt", "yuv420p", "-g", "5", "-f", "mpeg2video"},
		"hevc":       {"-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error", "-f", "hevc"},
	}[codec]
	out := filepath.Join(t.TempDir(), "stream")
	cmd := exec.Command(bin, append(append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "10"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", codec, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVideo: MPEG-2, H.264 and HEVC instances made by a real encoder
// (FFmpeg, at run time) are stored and served: the file as stored, metadata,
// frames as the one stream, /rendered and WADO-URI as the video media
// type, and 406 with a message for a picture of one.
func TestVideo(t *testing.T) {
	store, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, store, gwtest.Options{})
	site := strings.TrimSuffix(gw.URL, "/dicomweb")
	for i, c := range []struct {
		name, ts, media, codec string
	}{
		{"H.264", "1.2.840.10008.1.2.4.102", "video/mp4", "h264"},
		{"MPEG-2", "1.2.840.10008.1.2.4.100", "video/mpeg", "mpeg2video"},
		{"HEVC", "1.2.840.10008.1.2.4.107", "video/mp4", "hevc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream := encodeVideo(t, c.codec)
			study := "2.25.7100." + string(rune('1'+i))
			series, sop := study+".1", study+".1.1"
			file, pixels := videoInstance(t, c.ts, study, series, sop, stream, 1000)
			if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: file}}); resp.StatusCode != 200 {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
			inst := gw.URL + "/studies/" + study + "/series/" + series + "/instances/" + sop
			assertInstanceBytes(t, gw, corpus.File{StudyUID: study, SeriesUID: series, SOPUID: sop}, file)

			resp, body := get(t, inst+"/metadata", "application/dicom+json")
			var meta []dcm.Dataset
			if err := json.Unmarshal(body, &meta); resp.StatusCode != 200 || err != nil || len(meta) != 1 {
				t.Fatalf("metadata: %d %v", resp.StatusCode, err)
			}
			if n, _ := meta[0].Int("00280008"); n != 10 || meta[0]["7FE00010"] == nil || meta[0]["7FE00010"].BulkDataURI == "" {
				t.Errorf("metadata: NumberOfFrames %d, PixelData %+v", n, meta[0]["7FE00010"])
			}

			// Frames: any frame list is the whole stream, one part.
			for _, accept := range []string{
				`multipart/related; type="` + c.media + `"`,
				`multipart/related; type=application/octet-stream; transfer-syntax=*`, // OHIF v3
				"*/*",
			} {
				parts := retrieveParts(t, inst+"/frames/1,5,10", accept)
				if len(parts) != 1 || !bytes.Equal(parts[0].body, pixels) || !strings.Contains(parts[0].contentType, "transfer-syntax="+c.ts) {
					t.Errorf("frames (%s): %d parts, type %q", accept, len(parts), parts[0].contentType)
				}
			}
			resp, body = get(t, inst+"/frames/1", c.media)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.media+"; transfer-syntax="+c.ts || !bytes.Equal(body, pixels) {
				t.Errorf("frames/1 as %s: %d %q", c.media, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if resp, body := get(t, inst+"/frames/11", "*/*"); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("frame 11 of 10: %d %s", resp.StatusCode, body)
			}
			if got := ffprobe(t, body); got != "" && got != c.codec+",64,48,10" {
				t.Errorf("ffprobe of the served stream: %q, want %s,64,48,10", got, c.codec)
			}

			// /rendered: the stream when asked by name, else 406 saying so.
			resp, body = get(t, inst+"/rendered", c.media)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.media || !bytes.Equal(body, pixels) {
				t.Errorf("rendered as %s: %d %q", c.media, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, u := range []string{inst + "/rendered", inst + "/thumbnail", gw.URL + "/studies/" + study + "/rendered"} {
				resp, body := get(t, u, "image/jpeg")
				if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "Accept: "+c.media) {
					t.Errorf("%s as a picture: %d %s", u, resp.StatusCode, body)
				}
			}

			// WADO-URI: the stream by default, the file when asked.
			wado := site + "/wado?requestType=WADO&studyUID=" + study + "&seriesUID=" + series + "&objectUID=" + sop
			resp, body = get(t, wado, "")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.media || !bytes.Equal(body, pixels) {
				t.Errorf("WADO-URI default: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if _, body := get(t, wado+"&contentType=application/dicom", ""); !bytes.Equal(body, file) {
				t.Error("WADO-URI application/dicom: not the stored file")
			}
			if resp, body := get(t, wado+"&contentType=image/jpeg", ""); resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), c.media) {
				t.Errorf("WADO-URI image/jpeg of a video: %d %s", resp.StatusCode, body)
			}
		})
	}
	// A picture asked as video: 406, not a stream of something else.
	t.Run("not a video", func(t *testing.T) {
		const study, series, sop = "2.25.7101", "2.25.7101.1", "2.25.7101.1.1"
		img := synthetic{sop: sop, ts: tsExplicitLE, photometric: "MONOCHROME2", rows: 4, cols: 4, spp: 1, bits: 8, pixels: make([]byte, 16)}
		if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: img.build(study, series)}}); resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		resp, body := get(t, gw.URL+"/studies/"+study+"/series/"+series+"/instances/"+sop+"/rendered", "video/mp4")
		if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "not a video") {
			t.Errorf("video/mp4 of an image: %d %s", resp.StatusCode, body)
		}
	})
}

// TestExtendedOffsetTableFrames: a multi-frame JPEG whose frames span two
// fragments each, with an empty basic offset table and an Extended Offset
// Table with lengths (PS3.3 C.7.6.3.1.8), serves each frame as exactly
// its JPEG bytes, an odd frame without its pad byte, and renders it.
func TestExtendedOffsetTableFrames(t *testing.T) {
	store, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, store, gwtest.Options{})
	const study, series, sop = "2.25.7102", "2.25.7102.1", "2.25.7102.1.1"
	var frames [][]byte
	odd := false
	for q := 50; len(frames) < 3 || !odd; q++ {
		if q > 100 {
			t.Fatal("no odd-length JPEG frame from quality 50 to 100")
		}
		img := image.NewGray(image.Rect(0, 0, 16, 8))
		for i := range img.Pix {
			img.Pix[i] = byte(i*len(frames)*7 + q)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		if b.Len()%2 == 1 {
			odd = true
		} else if len(frames) == 2 && !odd {
			continue // keep one odd frame to show the pad is dropped
		}
		if len(frames) < 3 {
			frames = append(frames, b.Bytes())
		}
	}
	var frags [][]byte
	var offsets, lengths []byte
	var at uint64
	for _, f := range frames {
		offsets = binary.LittleEndian.AppendUint64(offsets, at)
		lengths = binary.LittleEndian.AppendUint64(lengths, uint64(len(f)))
		half := len(f) / 2 &^ 1
		for _, p := range [][]byte{f[:half], f[half:]} {
			frags = append(frags, p)
			at += 8 + uint64(len(p)+len(p)%2)
		}
	}
	var eot bytes.Buffer
	eot.Write(gwtest.Elem(0x7FE0, 0x0001, "OV", offsets))
	eot.Write(gwtest.Elem(0x7FE0, 0x0002, "OV", lengths))
	s := synthetic{sop: sop, ts: tsJPEGBase, photometric: "MONOCHROME2", rows: 8, cols: 16, spp: 1, bits: 8,
		frames: len(frames), extra: eot.Bytes(), fragments: frags}
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: s.build(study, series)}}); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	inst := gw.URL + "/studies/" + study + "/series/" + series + "/instances/" + sop
	for i, want := range frames {
		n := strconv.Itoa(i + 1)
		resp, body := get(t, inst+"/frames/"+n, "image/jpeg")
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("frame %s (%d bytes): %d, %d bytes, equal %v", n, len(want), resp.StatusCode, len(body), bytes.Equal(body, want))
		}
		resp, body = get(t, inst+"/frames/"+n+"/rendered", "image/png")
		if b := decodeAs(t, resp, body, "image/png").Bounds(); b.Dx() != 16 || b.Dy() != 8 {
			t.Errorf("frame %s rendered %v", n, b)
		}
	}
}
