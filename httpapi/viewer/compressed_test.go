package viewer_test

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// TestCompressedInViewer opens, for each compressed syntax the default
// build decodes, a study of one file of that syntax (made by DCMTK or
// GDCM from a real file) in the viewer at desktop and phone size: the
// screen-sized picture arrives and is not blank (its pixels, drawn on a
// canvas in Chromium, vary), and a screenshot is taken.
func TestCompressedInViewer(t *testing.T) {
	exec := browsertest.Chromium(t)
	set := gwtest.DefaultCodecs()
	// One file per syntax, made from a real file: the MR (3.dcm) where
	// the encoder takes it, else the 8-bit image (6.dcm), else any.
	pick := map[string]codectest.File{}
	rank := func(f codectest.File) int {
		for i, p := range []string{"3.dcm ", "6.dcm ", "5.dcm ", "4.dcm "} {
			if strings.HasPrefix(f.Name, p) {
				return i
			}
		}
		return 9
	}
	for _, f := range codectest.Files(t) {
		if _, ok := set.Decoder(f.Syntax); !ok || strings.HasPrefix(f.Name, "synthetic") {
			continue
		}
		if old, ok := pick[f.Syntax]; !ok || rank(f) < rank(old) {
			pick[f.Syntax] = f
		}
	}
	for _, f := range pick {
		dir := t.TempDir()
		store, db := gwtest.StoreAndIndex(t, dir)
		svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}, Codecs: set})
		srv := httptest.NewServer(server.New(svc, server.Options{Viewer: viewerstatic.FS()}))
		t.Cleanup(srv.Close)
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := gwtest.Stow(t, srv.URL+"/dicomweb/studies", []gwtest.Part{{Body: b}}); resp.StatusCode != 200 {
			t.Fatalf("STOW %s: %d %s", f.Name, resp.StatusCode, body)
		}
		t.Run(f.Name, func(t *testing.T) {
			for _, size := range []struct {
				name          string
				width, height int
				phone         bool
			}{{"desktop", 1280, 800, false}, {"phone", 375, 667, true}} {
				var p browsertest.Problems
				ctx := browsertest.New(t, exec, &p)
				vp := chromedp.EmulateViewport(int64(size.width), int64(size.height))
				if size.phone {
					vp = chromedp.EmulateViewport(int64(size.width), int64(size.height), chromedp.EmulateScale(2), chromedp.EmulateMobile)
				}
				if err := chromedp.Do(ctx, vp, chromedp.Navigate(srv.URL+"/study.html?studyUID="+url.QueryEscape(h.StudyUID))); err != nil {
					t.Fatal(err)
				}
				browsertest.Wait(t, ctx, "the rendered picture at "+size.name+" size", `document.getElementById("viewport")?.dataset.loaded === "1" && document.getElementById("image")?.naturalWidth > 128`)
				stats := browsertest.Eval[[]float64](t, ctx, `(() => {
					const img = document.getElementById("image");
					const c = document.createElement("canvas");
					c.width = img.naturalWidth; c.height = img.naturalHeight;
					const g = c.getContext("2d");
					g.drawImage(img, 0, 0);
					const d = g.getImageData(0, 0, c.width, c.height).data;
					let sum = 0, sq = 0, n = d.length / 4;
					for (let i = 0; i < d.length; i += 4) {
						const y = 0.299 * d[i] + 0.587 * d[i+1] + 0.114 * d[i+2];
						sum += y; sq += y * y;
					}
					const mean = sum / n;
					return [mean, Math.sqrt(sq / n - mean * mean), c.width, c.height];
				})()`)
				name := "compressed-" + strings.NewReplacer(" ", "-", "+", "", ".", "").Replace(f.Name) + "-" + size.name
				browsertest.Screenshot(t, ctx, "", name)
				p.Check(t, f.Name+" at "+size.name+" size")
				t.Logf("%s (%s) at %s size: %gx%g picture, mean grey %.1f, standard deviation %.1f", f.Name, f.Syntax, size.name, stats[2], stats[3], stats[0], stats[1])
				if stats[1] < 5 || stats[0] < 2 || stats[0] > 253 {
					t.Errorf("%s at %s size: the picture is blank (mean grey %.1f, standard deviation %.1f)", f.Name, size.name, stats[0], stats[1])
				}
			}
		})
	}
	if len(pick) < 2 {
		t.Errorf("only %d compressed syntaxes were shown", len(pick))
	}
}
