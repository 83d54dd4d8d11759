package guard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage/file"
)

// BenchmarkAccessOverhead measures QIDO and WADO metadata latency through
// the same gateway with and without authentication + authorisation +
// audit, to report what access control costs per request.
func BenchmarkAccessOverhead(b *testing.B) {
	dir := b.TempDir()
	store, _ := file.Open(filepath.Join(dir, "objects"))
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})
	man, err := corpus.Generate(b.TempDir(), corpus.Options{Studies: 20, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 8, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	plain := httptest.NewServer(server.New(svc, server.Options{}))
	defer plain.Close()
	var paths []string
	for _, f := range man.Files {
		paths = append(paths, man.Abs(f))
	}
	if resp, body := gwtest.Stow(b, plain.URL+"/dicomweb/studies", gwtest.FileParts(b, paths...)); resp.StatusCode != 200 {
		b.Fatalf("load: %d %s", resp.StatusCode, body)
	}
	rec := records.New(store, db)
	toks := auth.NewTokens(rec, nil)
	al, _ := audit.Open(db, store, audit.Options{})
	defer al.Close(context.Background())
	tok, _, _ := toks.Create(context.Background(), auth.Principal{Role: auth.RoleAdmin, User: "bench"}, 0)
	policy, err := server.Policy()
	if err != nil {
		b.Fatal(err)
	}
	mw := guard.Middleware(guard.Options{Auth: &auth.Authenticator{Tokens: toks}, Policy: policy, Audit: al})
	guarded := httptest.NewServer(server.New(svc, server.Options{Access: mw, API: []func(*echo.Group){}}))
	defer guarded.Close()
	f := man.Files[0]
	for _, route := range []struct{ name, path string }{
		{"qido", "/dicomweb/studies?PatientID=" + f.PatientID},
		{"metadata", "/dicomweb/studies/" + f.StudyUID + "/series/" + f.SeriesUID + "/metadata"},
	} {
		for _, srv := range []struct {
			name, url, token string
		}{{"open", plain.URL, ""}, {"auth+audit", guarded.URL, tok}} {
			b.Run(route.name+"/"+srv.name, func(b *testing.B) {
				req, _ := http.NewRequest("GET", srv.url+route.path, nil)
				req.Header.Set("Accept", "application/dicom+json")
				if srv.token != "" {
					req.Header.Set("Authorization", "Bearer "+srv.token)
				}
				for i := 0; i < b.N; i++ {
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("%v %v", err, resp)
					}
					resp.Body.Close()
				}
			})
		}
	}
}

// BenchmarkAuditEvents measures how many audit events per second the
// chained, batched writer sustains.
func BenchmarkAuditEvents(b *testing.B) {
	db, err := index.Open(index.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, _ := file.Open(b.TempDir())
	al, _ := audit.Open(db, store, audit.Options{})
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		al.Record(audit.Event{Actor: "dr", Role: "clinician", Institution: "h1", Study: "1.2.3", Action: "GET /dicomweb/studies/:study/metadata", Outcome: 200})
	}
	if err := al.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	al.Close(context.Background())
}
