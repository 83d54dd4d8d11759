package viewer_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
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
