package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// recognitionGateway runs an in-process gateway with recognition and an
// empty registry and catalogue.
func recognitionGateway(t *testing.T) *gwtest.Gateway {
	t.Helper()
	return gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{
		Extend: func(db *index.DB, store storage.Store) gwtest.Extension {
			svc, err := recognition.New(context.Background(), db, records.New(store, db), recognition.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return gwtest.Extension{
				Annotators: []archive.Annotator{svc}, Observers: []archive.Observer{svc},
				Middleware: []echo.MiddlewareFunc{recognitionapi.Asking}, API: recognitionAPI(svc),
			}
		},
	})
}

// runCLI runs the gateway command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRecognitionCLI loads the shipped files through a running gateway,
// exports them back, refuses a catalogue with an error (naming the line,
// loading nothing) and prints statistics.
func TestRecognitionCLI(t *testing.T) {
	gw := recognitionGateway(t)
	dir := t.TempDir()
	conn := []string{"--url", gw.Srv.URL, "--token", "unused-without-auth"}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	instText, _ := recognition.DefaultFile("institutions.yaml")
	catText, _ := recognition.DefaultFile("catalogue.yaml")
	inst, cat := write("institutions.yaml", string(instText)), write("catalogue.yaml", string(catText))

	bad := write("bad.yaml", strings.Replace(string(catText), "validity_days: 7\n", "validity_days: seven\n", 1))
	code, _, stderr := runCLI(t, append([]string{"recognition", "load", "--catalogue", bad}, conn...)...)
	line := 1 + strings.Count(string(catText[:strings.Index(string(catText), "validity_days: 7\n")]), "\n")
	if code != 1 || !strings.Contains(stderr, bad+":"+itoa(line)+":") {
		t.Fatalf("bad catalogue: exit %d, %s (want line %d)", code, stderr, line)
	}

	code, stdout, stderr := runCLI(t, append([]string{"recognition", "load", "--institutions", inst, "--catalogue", cat}, conn...)...)
	if code != 0 || !strings.Contains(stdout, `"catalogue_items":14`) {
		t.Fatalf("load: exit %d %s %s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, append([]string{"recognition", "export", "catalogue"}, conn...)...)
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	got, err := recognition.ParseCatalogue("export", []byte(stdout))
	if err != nil || len(got.Items) != 14 || got.Items[0].Code != "CT01" || got.Items[0].ValidityDays != 30 {
		t.Fatalf("exported catalogue: %v %+v", err, got)
	}
	code, stdout, _ = runCLI(t, append([]string{"recognition", "export", "institutions"}, conn...)...)
	reg, err := recognition.ParseRegistry("export", []byte(stdout))
	if code != 0 || err != nil || len(reg.Institutions) < 12 {
		t.Fatalf("exported registry: %d %v", code, err)
	}

	code, stdout, stderr = runCLI(t, append([]string{"recognition", "stats", "--by", "item"}, conn...)...)
	if code != 0 || !strings.Contains(stdout, "ITEM") || !strings.Contains(stdout, "total") {
		t.Fatalf("stats: %d %s %s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, append([]string{"recognition", "stats", "--json"}, conn...)...)
	var st recognition.Stats
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || st.By != "month" {
		t.Fatalf("stats --json: %d %s", code, stdout)
	}
	if code, _, stderr = runCLI(t, append([]string{"recognition", "stats", "--by", "week"}, conn...)...); code != 1 || !strings.Contains(stderr, "400") {
		t.Errorf("stats --by week: %d %s", code, stderr)
	}
}

// TestServeRefusesBadCatalogue: serve stops before listening and names the
// file and line.
func TestServeRefusesBadCatalogue(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "catalogue.yaml")
	os.WriteFile(bad, []byte("items:\n  - code: CT01\n    name: 头颅CT平扫\n    name_en: CT head\n    match: {modalities: [CT]}\n    validity_days: 0\n    price_yuan: 150\n    regions: [province]\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--catalogue", bad}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), bad+":2: invalid input: item CT01: validity_days") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "secrets", "person-key")); err != nil {
		t.Errorf("person key secret not created: %v", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
