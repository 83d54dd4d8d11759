package dicomweb_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// FuzzSTOW sends arbitrary multipart bodies to a real STOW handler: it
// must answer with one of the statuses PS3.18 names, never a 5xx, and
// never panic.
func FuzzSTOW(f *testing.F) {
	dir, err := corpus.SourceDir()
	if err == nil {
		if b, err := os.ReadFile(dir + "/6.dcm"); err == nil {
			body, _ := gwtest.Multipart([]gwtest.Part{{Body: b}})
			f.Add(body)
		}
	}
	body, _ := gwtest.Multipart([]gwtest.Part{{Body: gwtest.Part10("1.2.3", "1.2.3.4.5", gwtest.Minimal("1.2.3.4", "1.2.3.4.4", "1.2.3.4.5"))}})
	f.Add(body)
	f.Add([]byte("--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--\r\n"))
	f.Add([]byte{})
	tmp := f.TempDir()
	store, err := file.Open(tmp + "/objects")
	if err != nil {
		f.Fatal(err)
	}
	db, err := index.Open(index.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	svc := archive.New(store, db, archive.Options{TempDir: tmp, MaxInstanceBytes: 1 << 20, Visibility: archive.Unrestricted{}})
	h := server.New(svc, server.Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		// Use the boundary of the seeds when the body has one.
		boundary := "b"
		if i := bytes.Index(body, []byte("--")); i >= 0 {
			if j := bytes.IndexAny(body[i:], "\r\n"); j > 2 {
				boundary = string(body[i+2 : i+j])
			}
		}
		req := httptest.NewRequest("POST", "/dicomweb/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary="`+boundary+`"`)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
