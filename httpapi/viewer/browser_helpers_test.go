package viewer_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// viewerGateway is a gateway with the viewer and a loaded corpus.
type viewerGateway struct {
	URL     string // site root, e.g. http://127.0.0.1:PORT
	phantom *corpus.Manifest
	derived *corpus.Manifest
	// recognised marks studies as recognised (互认) in QIDO answers.
	recognised *recognitionStub
}

// recognitionStub stands in for the recognition service: it adds the
// private block the viewer reads (creator "IMGCLOUD RECOGNITION" in group
// 0011) to the studies it was told about.
type recognitionStub struct {
	mu    sync.Mutex
	study map[string]bool
}

func (r *recognitionStub) mark(study string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.study == nil {
		r.study = map[string]bool{}
	}
	r.study[study] = true
}

// AnnotateStudy implements archive.Annotator.
func (r *recognitionStub) AnnotateStudy(_ context.Context, st *index.Study) dcm.Dataset {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.study[st.UID] {
		return nil
	}
	return dcm.Dataset{
		"00110010": {VR: "LO", Value: []any{"IMGCLOUD RECOGNITION"}},
		"00111001": {VR: "CS", Value: []any{"RECOGNISED"}},
		"00111002": {VR: "LO", Value: []any{"CT-HEAD-01"}},
		"00111003": {VR: "LO", Value: []any{"头颅CT平扫"}},
		"00111004": {VR: "DA", Value: []any{"20261231"}},
	}
}

func startViewerGateway(t *testing.T) *viewerGateway {
	t.Helper()
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	rec := &recognitionStub{}
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}, Annotators: []archive.Annotator{rec}})
	srv := httptest.NewServer(server.New(svc, server.Options{Viewer: viewerstatic.FS()}))
	t.Cleanup(srv.Close)
	var err error
	gw := &viewerGateway{URL: srv.URL, recognised: rec}
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if gw.phantom, err = corpus.Phantom(filepath.Join(dir, "phantom"), corpus.PhantomOptions{Studies: 3, Slices: 12, Seed: 11, Today: today}); err != nil {
		t.Fatal(err)
	}
	// Two big studies from real files: the MONOCHROME1 CR and the
	// two-frame CT.
	if gw.derived, err = corpus.Generate(filepath.Join(dir, "derived"), corpus.Options{Studies: 2, Big: 2, SeriesPerStudy: 1, InstancesPerSeries: 1, Seed: 5, Today: today}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*corpus.Manifest{gw.phantom, gw.derived} {
		for _, st := range m.Studies() {
			var paths []string
			for _, f := range st.Files() {
				paths = append(paths, filepath.Join(m.Dir, f.Path))
			}
			if resp, body := gwtest.Stow(t, srv.URL+"/dicomweb/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
		}
	}
	return gw
}

// imageArea is the part of the viewport a window preview is compared on:
// the image element's box, less the corner overlays' bands.
func imageArea(t *testing.T, ctx context.Context) image.Rectangle {
	t.Helper()
	r := browsertest.Eval[[]float64](t, ctx, `(() => { const b = document.getElementById("viewport").getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom].map(v => v * devicePixelRatio); })()`)
	return image.Rect(int(r[0]), int(r[1])+40, int(r[2]), int(r[3])-40)
}

// screenshot captures the page as Chromium painted it.
func screenshot(t *testing.T, ctx context.Context) image.Image {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// meanAbsDiff is the mean absolute difference of grey levels (0-255) of
// two screenshots within r.
func meanAbsDiff(t *testing.T, a, b image.Image, r image.Rectangle) float64 {
	t.Helper()
	r = r.Intersect(a.Bounds()).Intersect(b.Bounds())
	if r.Empty() {
		t.Fatal("no area to compare")
	}
	grey := func(m image.Image, x, y int) float64 {
		c := color.GrayModel.Convert(m.At(x, y)).(color.Gray)
		return float64(c.Y)
	}
	var sum float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += math.Abs(grey(a, x, y) - grey(b, x, y))
		}
	}
	return sum / float64(r.Dx()*r.Dy())
}
