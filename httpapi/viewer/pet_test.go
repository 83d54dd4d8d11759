package viewer_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/browsertest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	viewerstatic "github.com/imgcloud/gateway/viewer-static"
)

// TestPETThumbnailNotBlack: the real PET file whose own window (L 30157 /
// W 54282) lies far above its values (rescaled maximum about 12,100)
// shows the body in the study list on a phone: the thumbnail, read back
// from a canvas in Chromium, has visible pixels (with the file's window,
// 31 of its 28,224 pixels were above black).
func TestPETThumbnailNotBlack(t *testing.T) {
	exec := browsertest.Chromium(t)
	src, err := corpus.SourceDir()
	if err != nil {
		t.Skipf("real DICOM files: %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "1.dcm")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	srv := httptest.NewServer(server.New(svc, server.Options{Viewer: viewerstatic.FS()}))
	t.Cleanup(srv.Close)
	if resp, body := gwtest.Stow(t, srv.URL+"/dicomweb/studies", gwtest.FileParts(t, filepath.Join(src, "1.dcm"))); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}

	var p browsertest.Problems
	ctx := browsertest.New(t, exec, &p)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/"),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(t, ctx, "the PET thumbnail", `[...document.querySelectorAll("#studies img.thumb")].some(i => i.classList.contains("loaded") && i.naturalWidth > 0)`)
	stats := browsertest.Eval[[]float64](t, ctx, `(() => {
		const img = [...document.querySelectorAll("#studies img.thumb")].find(i => i.naturalWidth > 0);
		const c = document.createElement("canvas");
		c.width = img.naturalWidth; c.height = img.naturalHeight;
		const g = c.getContext("2d");
		g.drawImage(img, 0, 0);
		const d = g.getImageData(0, 0, c.width, c.height).data;
		let visible = 0, sum = 0, n = d.length / 4;
		for (let i = 0; i < d.length; i += 4) {
			const y = 0.299 * d[i] + 0.587 * d[i+1] + 0.114 * d[i+2];
			sum += y;
			if (y >= 16) visible++;
		}
		return [visible / n, sum / n];
	})()`)
	browsertest.Screenshot(t, ctx, "", "pet-list-375x667")
	p.Check(t, "study list")
	t.Logf("PET thumbnail: %.1f%% of pixels visible, mean grey %.1f", 100*stats[0], stats[1])
	if stats[0] < 0.03 || stats[1] < 3 {
		t.Errorf("the PET thumbnail is black: %.2f%% of pixels at grey 16 or more, mean grey %.1f", 100*stats[0], stats[1])
	}
}
