package dicomweb_test

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// TestOHIFRequests replays what the OHIF viewer sends (see NOTES.md): the
// study list query with fuzzy matching and a fixed includefield list, the
// series query, series metadata in parallel, and frames with
// transfer-syntax=*, all cross-origin.
func TestOHIFRequests(t *testing.T) {
	man := testCorpus(t)
	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	var paths []string
	for _, f := range man.Files {
		paths = append(paths, man.Abs(f))
	}
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, paths...)); resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	study := man.Studies()[0]
	name := strings.SplitN(strings.SplitN(study.PatientName, "=", 2)[0], "^", 2)[0]
	hdr := map[string]string{"Accept": "application/dicom+json", "Origin": "http://viewer.example"}
	u := gw.URL + "/studies?PatientName=" + urlEncode("*"+strings.ToLower(name[:len(name)-1])+"*") +
		"&limit=101&offset=0&fuzzymatching=true&includefield=00081030%2C00080060"
	resp, body := gwtest.Do(t, "GET", u, hdr, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("study list: %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var studies []dcm.Dataset
	json.Unmarshal(body, &studies)
	found := false
	for _, s := range studies {
		found = found || s.String("0020000D") == study.StudyUID
		if _, ok := s["00081030"]; !ok {
			t.Errorf("includefield StudyDescription missing")
		}
		// OHIF v2 calls Modality.Value.indexOf: a Modality without a Value
		// breaks its study list. A study has ModalitiesInStudy instead.
		if e, ok := s["00080060"]; ok {
			t.Errorf("study row has Modality %+v: not a study attribute", e)
		}
		if e := s["00080061"]; e == nil || len(e.Value) == 0 {
			t.Errorf("study row has no ModalitiesInStudy: %+v", e)
		}
	}
	if w := strings.Join(resp.Header.Values("Warning"), " | "); !strings.Contains(w, "Modality") || !strings.Contains(w, "left out") {
		t.Errorf("Warning %q does not say Modality was left out", w)
	}
	if !found {
		t.Fatalf("study of %q not found by *%s*", study.PatientName, name)
	}
	// Preflight of a request with Authorization.
	resp, _ = gwtest.Do(t, "OPTIONS", gw.URL+"/studies/"+study.StudyUID+"/series", map[string]string{
		"Origin": "http://viewer.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization,accept",
	}, nil)
	if resp.StatusCode >= 300 || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	var wg sync.WaitGroup
	for _, se := range study.Series {
		wg.Add(1)
		go func(se corpus.Series) {
			defer wg.Done()
			resp, body := gwtest.Do(t, "GET", gw.URL+"/studies/"+study.StudyUID+"/series/"+se.SeriesUID+"/metadata", hdr, nil)
			var items []dcm.Dataset
			if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil || len(items) != len(se.Files) {
				t.Errorf("series metadata: %d, %d items", resp.StatusCode, len(items))
			}
			if resp.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
				t.Errorf("no CORP header on metadata")
			}
			f := se.Files[0]
			resp, body = gwtest.Do(t, "GET", gw.URL+"/studies/"+study.StudyUID+"/series/"+se.SeriesUID+"/instances/"+f.SOPUID+"/frames/1",
				map[string]string{"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"}, nil)
			if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("--")) || !bytes.Contains(body, []byte("\r\nContent-Type: application/octet-stream; transfer-syntax=")) {
				t.Errorf("frame: %d %q", resp.StatusCode, body[:min(len(body), 120)])
			}
		}(se)
	}
	wg.Wait()
}

func urlEncode(s string) string {
	r := strings.NewReplacer("*", "*", "^", "%5E")
	return r.Replace(strings.ReplaceAll(s, " ", "%20"))
}

// TestDeflatedFrames stores the library's deflated file as it is and reads
// its frame: the bytes are the inflated pixel data.
func TestDeflatedFrames(t *testing.T) {
	dir, err := corpus.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "6.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(src), int64(len(src)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Frames.Deflated {
		t.Fatal("6.dcm is expected to be deflated")
	}
	inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(src[h.Frames.DeflateStart:])))
	if err != nil {
		t.Fatal(err)
	}
	r := h.Frames.Frames[0][0]
	want := inflated[r.Offset : r.Offset+r.Length]

	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: src}}); resp.StatusCode != 200 {
		t.Fatalf("STOW deflated: %d %s", resp.StatusCode, body)
	}
	base := gw.URL + "/studies/" + h.StudyUID + "/series/" + h.SeriesUID + "/instances/" + h.SOPUID
	resp, got := gwtest.Do(t, "GET", base+"/frames/1", map[string]string{"Accept": "application/octet-stream"}, nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("deflated frame: %d, %d bytes, equal %v", resp.StatusCode, len(got), bytes.Equal(got, want))
	}
	parts := retrieveParts(t, base, "*/*")
	if len(parts) != 1 || !bytes.Equal(parts[0].body, src) {
		t.Fatal("deflated instance not returned as stored")
	}
}

// TestForwardedBase checks that BulkDataURI and RetrieveURL follow the
// root a reverse proxy announces, only when the gateway trusts it.
func TestForwardedBase(t *testing.T) {
	man := testCorpus(t)
	st, _ := file.Open(t.TempDir())
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := archive.New(st, db, archive.Options{TempDir: t.TempDir(), Visibility: archive.Unrestricted{}})
	for _, trusted := range []bool{true, false} {
		srv := httptest.NewServer(server.New(svc, server.Options{DICOMweb: dicomweb.Options{TrustForwarded: trusted}}))
		f := man.Files[0]
		if trusted {
			resp, body := gwtest.Stow(t, srv.URL+"/dicomweb/studies", gwtest.FileParts(t, man.Abs(f)))
			if resp.StatusCode != 200 {
				t.Fatalf("STOW: %d %s", resp.StatusCode, body)
			}
		}
		req, _ := http.NewRequest("GET", srv.URL+"/dicomweb/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/metadata", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "pacs.example.cn")
		req.Header.Set("X-Forwarded-Prefix", "/cloud")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		has := strings.Contains(string(body), `"https://pacs.example.cn/cloud/dicomweb/studies/`)
		if has != trusted {
			t.Errorf("trusted=%v: forwarded root used=%v", trusted, has)
		}
		srv.Close()
	}
}
