package dicomweb_test

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// meanGray is the mean luminance of a picture, 0-255.
func meanGray(img image.Image) float64 {
	b := img.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += (float64(r) + float64(g) + float64(bl)) / 3 / 257
		}
	}
	return sum / float64(b.Dx()*b.Dy())
}

// maxDiff is the largest luminance difference of two pictures of one size.
func maxDiff(a, b image.Image) float64 {
	var d float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			y1, _, _, _ := a.At(x, y).RGBA()
			y2, _, _, _ := b.At(x, y).RGBA()
			d = math.Max(d, math.Abs(float64(y1)-float64(y2))/257)
		}
	}
	return d
}

// TestWADOURI: WADO-URI (PS3.18 chapter 9) serves pictures by default and
// DICOM when asked, at the service root and the site root, rendered by
// the same renderer as /rendered; every answer is decoded.
func TestWADOURI(t *testing.T) {
	fx := newRenderedFixture(t)
	var cr, ct corpus.File
	for _, f := range fx.man.Files {
		switch {
		case f.Modality == "CR":
			cr = f
		case f.NumberOfFrames > 1:
			ct = f
		}
	}
	if cr.SOPUID == "" || ct.SOPUID == "" {
		t.Fatal("the corpus has no CR or no multi-frame instance")
	}
	site := strings.TrimSuffix(fx.gw.URL, "/dicomweb")
	wado := func(root string, f corpus.File, extra string) string {
		return root + "/wado?requestType=WADO&studyUID=" + f.StudyUID + "&seriesUID=" + f.SeriesUID + "&objectUID=" + f.SOPUID + extra
	}

	t.Run("default JPEG at both roots", func(t *testing.T) {
		for _, root := range []string{site, fx.gw.URL} {
			for _, f := range []corpus.File{cr, ct} {
				resp, body := get(t, wado(root, f, ""), "")
				img := decodeAs(t, resp, body, "image/jpeg")
				if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
					t.Fatal(err)
				}
				if b := img.Bounds(); b.Dx() != f.Columns || b.Dy() != f.Rows {
					t.Errorf("%s %s: %dx%d, want the image's %dx%d", root, f.Modality, b.Dx(), b.Dy(), f.Columns, f.Rows)
				}
			}
		}
	})

	t.Run("same picture as rendered", func(t *testing.T) {
		for _, f := range []corpus.File{cr, ct} {
			resp, body := get(t, wado(site, f, ""), "")
			a := decodeAs(t, resp, body, "image/jpeg")
			resp, rbody := get(t, fx.instanceURL(f)+"/rendered", "image/jpeg")
			b := decodeAs(t, resp, rbody, "image/jpeg")
			if a.Bounds() != b.Bounds() {
				t.Fatalf("%s: WADO-URI %v, /rendered %v", f.Modality, a.Bounds(), b.Bounds())
			}
			ma, mb := meanGray(a), meanGray(b)
			if d := maxDiff(a, b); math.Abs(ma-mb) > 0.01 || d > 0 {
				t.Errorf("%s: mean %.3f vs /rendered %.3f, largest difference %.0f: not the same picture", f.Modality, ma, mb, d)
			}
			if ma < 5 || ma > 250 {
				t.Errorf("%s: mean %.1f: a blank picture", f.Modality, ma)
			}
		}
	})

	t.Run("rows and columns", func(t *testing.T) {
		for _, c := range []struct {
			q    string
			w, h int
		}{
			{"&rows=256", int(math.Round(float64(cr.Columns) * 256 / float64(cr.Rows))), 256},
			{"&columns=100", 100, int(math.Round(float64(cr.Rows) * 100 / float64(cr.Columns)))},
			{"&rows=128&columns=128", int(math.Round(float64(cr.Columns) * 128 / float64(cr.Rows))), 128},
		} {
			resp, body := get(t, wado(site, cr, c.q), "")
			if b := decodeAs(t, resp, body, "image/jpeg").Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("%s: %dx%d, want %dx%d", c.q, b.Dx(), b.Dy(), c.w, c.h)
			}
		}
	})

	t.Run("media types", func(t *testing.T) {
		for _, c := range []struct{ ct, want string }{
			{"image/png", "image/png"},
			{"image/gif", "image/gif"},
			{"image/jpeg", "image/jpeg"},
			{"image/*", "image/jpeg"},
			{"application/dicom%3Bq=0.2,image/png", "image/png"},
			{"image/webp,image/gif", "image/gif"},
		} {
			resp, body := get(t, wado(site, cr, "&rows=64&contentType="+c.ct), "")
			if b := decodeAs(t, resp, body, c.want).Bounds(); b.Dy() != 64 {
				t.Errorf("contentType %s: %v, want 64 high", c.ct, b)
			}
		}
		_, file := get(t, wado(site, cr, "&contentType=application/dicom"), "")
		assertInstanceBytes(t, fx.gw, cr, file)
		resp, _ := get(t, wado(site, cr, "&contentType=application/dicom&transferSyntax="+cr.TransferSyntax), "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dicom" {
			t.Errorf("application/dicom in the stored syntax: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("region", func(t *testing.T) {
		resp, body := get(t, wado(site, cr, "&region=0.25,0.5,0.75,1.0&contentType=image/png"), "")
		got := decodeAs(t, resp, body, "image/png")
		if b := got.Bounds(); b.Dx() != cr.Columns/2 || b.Dy() != cr.Rows/2 {
			t.Fatalf("region of a quarter: %v, want %dx%d", b, cr.Columns/2, cr.Rows/2)
		}
		// The same pixels as the viewport crop of /rendered.
		resp, body = get(t, fx.instanceURL(cr)+"/rendered?viewport="+strconv.Itoa(cr.Columns/2)+","+strconv.Itoa(cr.Rows/2)+","+strconv.Itoa(cr.Columns/4)+","+strconv.Itoa(cr.Rows/2)+","+strconv.Itoa(cr.Columns/2)+","+strconv.Itoa(cr.Rows/2), "image/png")
		if d := maxDiff(got, decodeAs(t, resp, body, "image/png")); d > 0 {
			t.Errorf("region differs from the /rendered crop by up to %.0f", d)
		}
	})

	t.Run("window", func(t *testing.T) {
		_, def := get(t, wado(site, ct, "&contentType=image/png"), "")
		resp, narrow := get(t, wado(site, ct, "&contentType=image/png&windowCenter=40&windowWidth=80"), "")
		n := decodeAs(t, resp, narrow, "image/png")
		if w := resp.Header.Get("X-Rendered-Window"); w != "40,80,LINEAR" {
			t.Errorf("window header %q, want 40,80,LINEAR", w)
		}
		resp, wide := get(t, wado(site, ct, "&contentType=image/png&windowCenter=40&windowWidth=4000"), "")
		w := decodeAs(t, resp, wide, "image/png")
		if bytes.Equal(narrow, wide) || bytes.Equal(narrow, def) {
			t.Error("windows do not change the picture")
		}
		// A narrow window saturates more: more pure black and white.
		if extremes(n) <= extremes(w) {
			t.Errorf("window 80 has %d saturated pixels, window 4000 %d", extremes(n), extremes(w))
		}
	})

	t.Run("frameNumber", func(t *testing.T) {
		resp, one := get(t, wado(site, ct, "&contentType=image/png&frameNumber=1"), "")
		decodeAs(t, resp, one, "image/png")
		resp, two := get(t, wado(site, ct, "&contentType=image/png&frameNumber=2"), "")
		decodeAs(t, resp, two, "image/png")
		_, want := get(t, fx.instanceURL(ct)+"/frames/2/rendered", "image/png")
		if bytes.Equal(one, two) || !bytes.Equal(two, want) {
			t.Error("frameNumber=2 is not /frames/2/rendered, or is frame 1")
		}
		resp, body := get(t, wado(site, ct, "&contentType=image/gif&frameNumber=2"), "")
		decodeAs(t, resp, body, "image/gif")
		if anim, err := gif.DecodeAll(bytes.NewReader(body)); err != nil || len(anim.Image) != 1 {
			t.Errorf("GIF of one frame: %v", err)
		}
	})

	t.Run("imageQuality", func(t *testing.T) {
		resp, q10 := get(t, wado(site, ct, "&imageQuality=10"), "")
		decodeAs(t, resp, q10, "image/jpeg")
		resp, q95 := get(t, wado(site, ct, "&imageQuality=95"), "")
		decodeAs(t, resp, q95, "image/jpeg")
		if len(q10) >= len(q95) {
			t.Errorf("imageQuality 10 is %d bytes, 95 is %d", len(q10), len(q95))
		}
	})

	t.Run("annotation", func(t *testing.T) {
		resp, body := get(t, wado(site, cr, "&annotation=patient"), "")
		decodeAs(t, resp, body, "image/jpeg")
		if w := resp.Header.Get("Warning"); !strings.Contains(w, "annotation") {
			t.Errorf("annotation: Warning %q", w)
		}
	})

	t.Run("non-image", func(t *testing.T) {
		const study, series, sop = "2.25.7002", "2.25.7002.1", "2.25.7002.1.1"
		file := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal(study, series, sop))
		if resp, body := gwtest.Stow(t, fx.gw.URL+"/studies", []gwtest.Part{{Body: file}}); resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		u := site + "/wado?requestType=WADO&studyUID=" + study + "&seriesUID=" + series + "&objectUID=" + sop
		resp, body := get(t, u, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dicom" || !bytes.Equal(body, file) {
			t.Errorf("object without pixel data: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		resp, body = get(t, u+"&contentType=image/jpeg", "")
		if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "no pixel data") {
			t.Errorf("a picture of no pixel data: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			q    string
			want int
			says string
		}{
			{"&frameNumber=3", 400, "2 frame"},
			{"&frameNumber=0", 400, "frameNumber"},
			{"&rows=0", 400, "rows"},
			{"&columns=x", 400, "columns"},
			{"&rows=9000", 400, "rows"},
			{"&imageQuality=101", 400, "imageQuality"},
			{"&windowCenter=40", 400, "both"},
			{"&windowWidth=40", 400, "both"},
			{"&windowCenter=40&windowWidth=0", 400, "width"},
			{"&region=0.5,0.5,0.2,0.9", 400, "region"},
			{"&region=0,0,1.5,1", 400, "region"},
			{"&region=0,0,1", 400, "region"},
			{"&contentType=application/dicom&rows=64", 400, "pictures only"},
			{"&contentType=image/jpeg&transferSyntax=1.2.840.10008.1.2.1", 400, "transferSyntax"},
			{"&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50", 406, "stored in"},
			{"&contentType=text/html", 406, "image/jpeg"},
			{"&anonymize=yes", 406, "de-identification"},
			{"&anonymize=no", 400, "anonymize"},
			{"&presentationUID=1.2.3", 406, "presentation states"},
		} {
			f := ct
			resp, body := get(t, wado(site, f, c.q), "")
			if resp.StatusCode != c.want || !strings.Contains(string(body), c.says) {
				t.Errorf("%s: %d %s, want %d saying %q", c.q, resp.StatusCode, body, c.want, c.says)
			}
		}
		for _, c := range []struct {
			u    string
			want int
		}{
			{site + "/wado?studyUID=1&seriesUID=2&objectUID=3", 400},
			{site + "/wado?requestType=WADO&studyUID=1&seriesUID=2&objectUID=3.4.5", 404},
			{site + "/wado?requestType=WADO&studyUID=1.x&seriesUID=2&objectUID=3", 400},
		} {
			if resp, body := get(t, c.u, ""); resp.StatusCode != c.want {
				t.Errorf("%s: %d %s, want %d", c.u, resp.StatusCode, body, c.want)
			}
		}
	})
}

// extremes counts the pixels at 0 or 255 of a grayscale picture.
func extremes(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			v, _, _, _ := img.At(x, y).RGBA()
			if v == 0 || v == 0xFFFF {
				n++
			}
		}
	}
	return n
}
