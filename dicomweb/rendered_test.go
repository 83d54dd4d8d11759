package dicomweb_test

import (
	"bytes"
	"encoding/binary"
	"github.com/imgcloud/gateway/codec/codecs"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// Transfer syntaxes of the synthetic instances.
const (
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsJPEGBase   = "1.2.840.10008.1.2.4.50"
	tsJ2K        = "1.2.840.10008.1.2.4.90"
	tsRLE        = "1.2.840.10008.1.2.5"
)

// part10 wraps an explicit VR little endian data set into a Part 10 file
// whose meta names transfer syntax ts (gwtest.Part10 always names
// Explicit VR Little Endian).
func part10(ts, sop string, dataset []byte) []byte {
	var meta bytes.Buffer
	meta.Write(gwtest.Elem(0x0002, 0x0001, "OB", []byte{0, 1}))
	meta.Write(gwtest.Elem(0x0002, 0x0002, "UI", gwtest.Str("1.2.840.10008.5.1.4.1.1.7", 0)))
	meta.Write(gwtest.Elem(0x0002, 0x0003, "UI", gwtest.Str(sop, 0)))
	meta.Write(gwtest.Elem(0x0002, 0x0010, "UI", gwtest.Str(ts, 0)))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	out.Write(gwtest.Elem(0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(meta.Len()))))
	out.Write(meta.Bytes())
	out.Write(dataset)
	return out.Bytes()
}

func us(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// synthetic describes one constructed image instance.
type synthetic struct {
	sop, ts, photometric string
	rows, cols, spp      int
	bits, signed         int
	frames               int    // NumberOfFrames, when not 0
	extra                []byte // elements between (0028,0103) and pixel data, in tag order
	pixels               []byte // native bytes, or fragments below
	fragments            [][]byte
}

// build makes the Part 10 file of s in study/series.
func (s synthetic) build(study, series string) []byte {
	var ds bytes.Buffer
	ds.Write(gwtest.Minimal(study, series, s.sop))
	ds.Write(gwtest.Elem(0x0020, 0x0013, "IS", gwtest.Str("1", ' ')))
	ds.Write(gwtest.Elem(0x0028, 0x0002, "US", us(uint16(s.spp))))
	ds.Write(gwtest.Elem(0x0028, 0x0004, "CS", gwtest.Str(s.photometric, ' ')))
	if s.spp == 3 {
		ds.Write(gwtest.Elem(0x0028, 0x0006, "US", us(0)))
	}
	if s.frames > 0 {
		ds.Write(gwtest.Elem(0x0028, 0x0008, "IS", gwtest.Str(strconv.Itoa(s.frames), ' ')))
	}
	ds.Write(gwtest.Elem(0x0028, 0x0010, "US", us(uint16(s.rows))))
	ds.Write(gwtest.Elem(0x0028, 0x0011, "US", us(uint16(s.cols))))
	ds.Write(gwtest.Elem(0x0028, 0x0100, "US", us(uint16(s.bits))))
	ds.Write(gwtest.Elem(0x0028, 0x0101, "US", us(uint16(s.bits))))
	ds.Write(gwtest.Elem(0x0028, 0x0102, "US", us(uint16(s.bits-1))))
	ds.Write(gwtest.Elem(0x0028, 0x0103, "US", us(uint16(s.signed))))
	ds.Write(s.extra)
	if s.fragments == nil {
		vr := "OW"
		if s.bits == 8 {
			vr = "OB"
		}
		ds.Write(gwtest.Elem(0x7FE0, 0x0010, vr, s.pixels))
		return part10(s.ts, s.sop, ds.Bytes())
	}
	ds.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	item := func(b []byte) {
		ds.Write([]byte{0xFE, 0xFF, 0x00, 0xE0})
		ds.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
		ds.Write(b)
	}
	item(nil) // empty basic offset table
	for _, f := range s.fragments {
		if len(f)%2 == 1 {
			f = append(f, 0)
		}
		item(f)
	}
	ds.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	return part10(s.ts, s.sop, ds.Bytes())
}

// literalRLE encodes one RLE segment with literal runs only (PS3.5
// G.3.1), which any decoder must accept.
func literalRLE(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i += 128 {
		chunk := b[i:min(i+128, len(b))]
		out = append(out, byte(len(chunk)-1))
		out = append(out, chunk...)
	}
	if len(out)%2 == 1 {
		out = append(out, 0x80)
	}
	return out
}

func rleFrame(segs ...[]byte) []byte {
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(segs)))
	var body []byte
	for i, s := range segs {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(64+len(body)))
		body = append(body, literalRLE(s)...)
	}
	return append(hdr, body...)
}

// renderedFixture is a gateway holding the derived corpus, the phantom
// corpus and the synthetic instances.
type renderedFixture struct {
	gw             *gwtest.Gateway
	man, phantom   *corpus.Manifest
	study, series  string
	gray           *image.Gray // what the JPEG and RLE instances hold
	jpegSOP        string
	j2kSOP, rleSOP string
	nativeSOP      string // the RLE image, stored native
	paletteSOP     string
}

func newRenderedFixture(t *testing.T) *renderedFixture {
	t.Helper()
	store, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fx := &renderedFixture{gw: gwtest.Start(t, store, gwtest.Options{}), man: testCorpus(t)}
	fx.phantom, err = corpus.Phantom(t.TempDir(), corpus.PhantomOptions{Studies: 3, Slices: 4, Seed: 3, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*corpus.Manifest{fx.man, fx.phantom} {
		for _, st := range m.Studies() {
			var paths []string
			for _, f := range st.Files() {
				paths = append(paths, filepath.Join(m.Dir, f.Path))
			}
			if resp, body := gwtest.Stow(t, fx.gw.URL+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
		}
	}

	fx.study, fx.series = "2.25.7001", "2.25.7001.1"
	const w, h = 40, 24
	fx.gray = image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx.gray.SetGray(x, y, color.Gray{Y: uint8(x*6 + y)})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, fx.gray, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	// A 16-bit signed image, stored native and as RLE Lossless.
	native := make([]byte, 2*w*h)
	hi, lo := make([]byte, w*h), make([]byte, w*h)
	for i := range w * h {
		v := int16(i*9 - 4000)
		binary.LittleEndian.PutUint16(native[2*i:], uint16(v))
		hi[i], lo[i] = byte(uint16(v)>>8), byte(v)
	}
	pal := func(f func(i int) uint16) []byte {
		var b []byte
		for i := range 256 {
			b = binary.LittleEndian.AppendUint16(b, f(i))
		}
		return b
	}
	var palette bytes.Buffer
	for _, el := range []uint16{0x1101, 0x1102, 0x1103} {
		palette.Write(gwtest.Elem(0x0028, el, "US", us(256, 0, 16)))
	}
	palette.Write(gwtest.Elem(0x0028, 0x1201, "OW", pal(func(i int) uint16 { return uint16(i) << 8 })))
	palette.Write(gwtest.Elem(0x0028, 0x1202, "OW", pal(func(i int) uint16 { return uint16(255-i) << 8 })))
	palette.Write(gwtest.Elem(0x0028, 0x1203, "OW", pal(func(int) uint16 { return 0x8000 })))
	palPixels := make([]byte, w*h)
	for i := range palPixels {
		palPixels[i] = byte(i % 256)
	}

	fx.jpegSOP, fx.j2kSOP, fx.rleSOP, fx.nativeSOP, fx.paletteSOP = "2.25.7001.1.1", "2.25.7001.1.2", "2.25.7001.1.3", "2.25.7001.1.4", "2.25.7001.1.5"
	insts := []synthetic{
		{sop: fx.jpegSOP, ts: tsJPEGBase, photometric: "MONOCHROME2", rows: h, cols: w, spp: 1, bits: 8, fragments: [][]byte{jb.Bytes()}},
		{sop: fx.j2kSOP, ts: tsJ2K, photometric: "MONOCHROME2", rows: h, cols: w, spp: 1, bits: 16, fragments: [][]byte{{0xFF, 0x4F, 0xFF, 0x51, 1, 2}}},
		{sop: fx.rleSOP, ts: tsRLE, photometric: "MONOCHROME2", rows: h, cols: w, spp: 1, bits: 16, signed: 1, fragments: [][]byte{rleFrame(hi, lo)}},
		{sop: fx.nativeSOP, ts: tsExplicitLE, photometric: "MONOCHROME2", rows: h, cols: w, spp: 1, bits: 16, signed: 1, pixels: native},
		{sop: fx.paletteSOP, ts: tsExplicitLE, photometric: "PALETTE COLOR", rows: h, cols: w, spp: 1, bits: 8, extra: palette.Bytes(), pixels: palPixels},
	}
	var parts []gwtest.Part
	for _, s := range insts {
		parts = append(parts, gwtest.Part{Body: s.build(fx.study, fx.series)})
	}
	if resp, body := gwtest.Stow(t, fx.gw.URL+"/studies", parts); resp.StatusCode != 200 {
		t.Fatalf("STOW synthetic instances: %d %s", resp.StatusCode, body)
	}
	return fx
}

func (fx *renderedFixture) instanceURL(f corpus.File) string {
	return fx.gw.URL + "/studies/" + f.StudyUID + "/series/" + f.SeriesUID + "/instances/" + f.SOPUID
}

func (fx *renderedFixture) syntheticURL(sop string) string {
	return fx.gw.URL + "/studies/" + fx.study + "/series/" + fx.series + "/instances/" + sop
}

// decodeAs checks an answer's status and type and decodes the picture.
func decodeAs(t *testing.T, resp *http.Response, body []byte, media string) image.Image {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != media {
		t.Fatalf("%s: Content-Type %q, want %q", resp.Request.URL, ct, media)
	}
	img, format, err := image.Decode(bytes.NewReader(body))
	if err != nil || "image/"+format != media {
		t.Fatalf("%s: decode: %v (format %q)", resp.Request.URL, err, format)
	}
	return img
}

func TestRendered(t *testing.T) {
	fx := newRenderedFixture(t)
	t.Run("sizes", func(t *testing.T) { testRenderedSizes(t, fx) })
	t.Run("negotiation", func(t *testing.T) { testRenderedNegotiation(t, fx) })
	t.Run("parameters", func(t *testing.T) { testRenderedParameters(t, fx) })
	t.Run("multi-frame", func(t *testing.T) { testRenderedMultiFrame(t, fx) })
	t.Run("levels", func(t *testing.T) { testRenderedLevels(t, fx) })
	t.Run("thumbnail-cache", func(t *testing.T) { testThumbnailCache(t, fx) })
	t.Run("codecs", func(t *testing.T) { testRenderedCodecs(t, fx) })
}

// Every instance of both corpora renders at its own size.
func testRenderedSizes(t *testing.T, fx *renderedFixture) {
	for _, m := range []*corpus.Manifest{fx.man, fx.phantom} {
		for _, f := range m.Files {
			resp, body := get(t, fx.instanceURL(f)+"/rendered", "image/png")
			img := decodeAs(t, resp, body, "image/png")
			if b := img.Bounds(); b.Dx() != f.Columns || b.Dy() != f.Rows {
				t.Errorf("%s (%s): %dx%d, want %dx%d", f.Path, f.Modality, b.Dx(), b.Dy(), f.Columns, f.Rows)
			}
			if _, gray := img.(*image.Gray); gray != (f.SamplesPerPixel == 1) {
				t.Errorf("%s: %d samples rendered as %T", f.Path, f.SamplesPerPixel, img)
			}
		}
	}
}

func testRenderedNegotiation(t *testing.T, fx *renderedFixture) {
	u := fx.instanceURL(fx.man.Files[0]) + "/rendered"
	for _, c := range []struct{ accept, want string }{
		{"image/jpeg", "image/jpeg"},
		{"image/png", "image/png"},
		{"image/gif", "image/gif"},
		{"image/*", "image/jpeg"},
		{"*/*", "image/jpeg"},
		{"", "image/jpeg"},
		{"application/dicom, image/png;q=0.5", "image/png"},
	} {
		resp, body := get(t, u, c.accept)
		decodeAs(t, resp, body, c.want)
	}
	resp, body := get(t, u, "application/dicom")
	if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "image/jpeg") {
		t.Errorf("Accept application/dicom: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, u+"?accept=image/png", "image/jpeg")
	decodeAs(t, resp, body, "image/png")
}

func testRenderedParameters(t *testing.T, fx *renderedFixture) {
	var cr, ct corpus.File
	for _, f := range fx.man.Files {
		switch {
		case f.Modality == "CR":
			cr = f
		case f.NumberOfFrames > 1:
			ct = f
		}
	}
	resp, body := get(t, fx.instanceURL(cr)+"/rendered?viewport=128,128", "image/png")
	if b := decodeAs(t, resp, body, "image/png").Bounds(); b.Dx() != 105 || b.Dy() != 128 {
		t.Errorf("CR 1760x2140 into 128,128: %v, want 105x128", b)
	}
	resp, body = get(t, fx.instanceURL(cr)+"/rendered?viewport=100,50,0,0,200,100", "image/png")
	if b := decodeAs(t, resp, body, "image/png").Bounds(); b.Dx() != 100 || b.Dy() != 50 {
		t.Errorf("region 200x100 into 100,50: %v", b)
	}
	if w := resp.Header.Get("X-Rendered-Window"); w != "511,1023,LINEAR" {
		t.Errorf("CR window header %q, want the file's 511,1023,LINEAR", w)
	}
	base := fx.instanceURL(ct) + "/rendered"
	_, narrow := get(t, base+"?window=40,80", "image/png")
	_, wide := get(t, base+"?window=40,4000,linear-exact", "image/png")
	if bytes.Equal(narrow, wide) {
		t.Error("two windows rendered the same picture")
	}
	_, q10 := get(t, base+"?quality=10", "image/jpeg")
	_, q95 := get(t, base+"?quality=95", "image/jpeg")
	if len(q10) >= len(q95) {
		t.Errorf("quality 10 is %d bytes, quality 95 %d", len(q10), len(q95))
	}
	for _, q := range []string{"window=40", "window=40,0", "window=a,b", "window=40,80,cubic", "viewport=0,10", "viewport=10",
		"viewport=10,10,0,0,-5,5", "viewport=10,10,500,500,100,100", "quality=0", "quality=101", "quality=x"} {
		resp, body := get(t, base+"?"+q, "image/jpeg")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}

func testRenderedMultiFrame(t *testing.T, fx *renderedFixture) {
	var ct corpus.File
	for _, f := range fx.man.Files {
		if f.NumberOfFrames > 1 {
			ct = f
		}
	}
	u := fx.instanceURL(ct)
	resp, body := get(t, u+"/rendered", "image/gif")
	decodeAs(t, resp, body, "image/gif")
	anim, err := gif.DecodeAll(bytes.NewReader(body))
	if err != nil || len(anim.Image) != ct.NumberOfFrames {
		t.Fatalf("GIF of a %d-frame instance: %v, %d frames", ct.NumberOfFrames, err, len(anim.Image))
	}
	resp, body = get(t, u+"/rendered", "image/*")
	decodeAs(t, resp, body, "image/jpeg")
	resp, body = get(t, u+"/frames/2/rendered", "image/png")
	two := decodeAs(t, resp, body, "image/png")
	_, body1 := get(t, u+"/frames/1/rendered", "image/png")
	if bytes.Equal(body, body1) {
		t.Error("frames 1 and 2 rendered the same")
	}
	if two.Bounds().Dx() != ct.Columns {
		t.Errorf("frame 2: %v", two.Bounds())
	}
	resp, body = get(t, u+"/frames/1,2/rendered", "image/gif")
	if anim, err := gif.DecodeAll(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil || len(anim.Image) != 2 {
		t.Errorf("frames 1,2 as GIF: %d %v", resp.StatusCode, err)
	}
	for _, c := range []struct {
		path, accept string
		want         int
	}{
		{"/frames/1,2/rendered", "image/jpeg", 406},
		{"/frames/3/rendered", "image/jpeg", 400},
		{"/frames/0/rendered", "image/jpeg", 400},
		{"/frames/2/thumbnail", "image/jpeg", 200},
	} {
		if resp, body := get(t, u+c.path, c.accept); resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.path, resp.StatusCode, body, c.want)
		}
	}
}

func testRenderedLevels(t *testing.T, fx *renderedFixture) {
	st := fx.phantom.Studies()[0] // a CT stack
	se := st.Series[0]
	urls := []string{
		fx.gw.URL + "/studies/" + st.StudyUID,
		fx.gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID,
		fx.gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/instances/" + se.Files[0].SOPUID,
		fx.gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/instances/" + se.Files[0].SOPUID + "/frames/1",
	}
	for _, u := range urls {
		resp, body := get(t, u+"/rendered", "image/jpeg")
		if b := decodeAs(t, resp, body, "image/jpeg").Bounds(); b.Dx() != se.Files[0].Columns {
			t.Errorf("%s/rendered: %v", u, b)
		}
		resp, body = get(t, u+"/thumbnail", "image/jpeg")
		if b := decodeAs(t, resp, body, "image/jpeg").Bounds(); b.Dx() > 128 || b.Dy() > 128 {
			t.Errorf("%s/thumbnail: %v", u, b)
		}
	}
	// The study and series answers show the middle slice of the stack.
	mid := se.Files[(len(se.Files)-1)/2]
	_, want := get(t, fx.gw.URL+"/studies/"+st.StudyUID+"/series/"+se.SeriesUID+"/instances/"+mid.SOPUID+"/rendered", "image/png")
	if _, got := get(t, urls[0]+"/rendered", "image/png"); !bytes.Equal(got, want) {
		t.Error("the study's rendered image is not its middle slice")
	}
	for _, c := range []struct {
		u    string
		want int
	}{
		{fx.gw.URL + "/studies/2.25.404/rendered", 404},
		{fx.gw.URL + "/studies/x1/rendered", 400},
		{fx.gw.URL + "/studies/2.25.404/thumbnail", 404},
	} {
		if resp, body := get(t, c.u, "image/jpeg"); resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.u, resp.StatusCode, body, c.want)
		}
	}
}

func testThumbnailCache(t *testing.T, fx *renderedFixture) {
	var cr corpus.File
	for _, f := range fx.man.Files {
		if f.Modality == "CR" {
			cr = f
		}
	}
	u := fx.instanceURL(cr) + "/thumbnail?viewport=96,96"
	start := time.Now()
	resp, cold := get(t, u, "image/jpeg")
	coldTime := time.Since(start)
	decodeAs(t, resp, cold, "image/jpeg")
	if resp.Header.Get("X-Cache") != "miss" {
		t.Errorf("first thumbnail X-Cache %q", resp.Header.Get("X-Cache"))
	}
	key := "cache/thumbnails/v2/" + cr.StudyUID + "/" + cr.SeriesUID + "/" + cr.SOPUID + "/f1-96x96-q80.jpeg"
	info, err := fx.gw.Store.Stat(t.Context(), key)
	if err != nil || info.Size != int64(len(cold)) {
		t.Fatalf("cached object %s: %+v, %v (answer was %d bytes)", key, info, err, len(cold))
	}
	start = time.Now()
	resp, warm := get(t, u, "image/jpeg")
	warmTime := time.Since(start)
	if resp.Header.Get("X-Cache") != "hit" || !bytes.Equal(cold, warm) {
		t.Errorf("second thumbnail: X-Cache %q, same bytes %v", resp.Header.Get("X-Cache"), bytes.Equal(cold, warm))
	}
	t.Logf("CR 2140x1760 thumbnail: cold %v, cached %v", coldTime, warmTime)
	// Proof that the answer comes from the store: replace the object.
	var marker bytes.Buffer
	jpeg.Encode(&marker, image.NewGray(image.Rect(0, 0, 3, 3)), nil)
	if err := fx.gw.Store.Put(t.Context(), key, bytes.NewReader(marker.Bytes()), int64(marker.Len())); err != nil {
		t.Fatal(err)
	}
	if _, got := get(t, u, "image/jpeg"); !bytes.Equal(got, marker.Bytes()) {
		t.Error("the thumbnail was not served from the cached object")
	}
	// Another viewport is another object.
	resp, _ = get(t, fx.instanceURL(cr)+"/thumbnail?viewport=64,64", "image/png")
	if resp.Header.Get("X-Cache") != "miss" {
		t.Errorf("thumbnail at another size: X-Cache %q", resp.Header.Get("X-Cache"))
	}
}

func testRenderedCodecs(t *testing.T, fx *renderedFixture) {
	resp, body := get(t, fx.syntheticURL(fx.jpegSOP)+"/rendered", "image/png")
	g, ok := decodeAs(t, resp, body, "image/png").(*image.Gray)
	if !ok {
		t.Fatal("JPEG baseline grayscale did not render gray")
	}
	for i, v := range fx.gray.Pix {
		if d := int(g.Pix[i]) - int(v); d < -3 || d > 3 {
			t.Fatalf("JPEG baseline pixel %d = %d, encoded %d", i, g.Pix[i], v)
		}
	}
	// The JPEG 2000 fragment is a cut codestream (SOC, then half a SIZ):
	// without a JPEG 2000 decoder (the pure-Go build) it is 406 naming the
	// syntax; with one (-tags cgocodecs) 422 saying it does not decode.
	resp, body = get(t, fx.syntheticURL(fx.j2kSOP)+"/rendered", "image/jpeg")
	if _, ok := codecs.New().Decoder(tsJ2K); ok {
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "does not decode") {
			t.Errorf("cut JPEG 2000 codestream: %d %s, want 422 saying it does not decode", resp.StatusCode, body)
		}
	} else if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), tsJ2K) || !strings.Contains(string(body), "JPEG 2000") {
		t.Errorf("JPEG 2000 instance: %d %s, want 406 naming the syntax", resp.StatusCode, body)
	}
	resp, rle := get(t, fx.syntheticURL(fx.rleSOP)+"/rendered", "image/png")
	decodeAs(t, resp, rle, "image/png")
	_, native := get(t, fx.syntheticURL(fx.nativeSOP)+"/rendered", "image/png")
	if !bytes.Equal(rle, native) {
		t.Error("RLE instance renders differently from the same pixels stored native")
	}
	resp, body = get(t, fx.syntheticURL(fx.paletteSOP)+"/rendered", "image/png")
	img := decodeAs(t, resp, body, "image/png")
	for _, i := range []int{0, 100, 255, 700} {
		x, y := i%40, i/40
		r, g, b, _ := img.At(x, y).RGBA()
		v := uint32(i % 256)
		if r>>8 != v || g>>8 != 255-v || b>>8 != 128 {
			t.Errorf("palette pixel %d = %d,%d,%d, want %d,%d,128", i, r>>8, g>>8, b>>8, v, 255-v)
		}
	}
	_ = png.Decode // image/png registers the PNG decoder for image.Decode
}
