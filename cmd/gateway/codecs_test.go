package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec/codecs"
)

// TestCodecsAtStart: a build without the cgo codecs says at start and in
// /readyz which compressed syntaxes it cannot decode; one with them says
// nothing of the kind.
func TestCodecsAtStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	var logs bytes.Buffer
	gw, err := assemble(context.Background(), cfg, io.Discard, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.close)
	srv := httptest.NewServer(gw.echo)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "ready\n") {
		t.Fatalf("/readyz: %d %q", resp.StatusCode, body)
	}
	j2k := "1.2.840.10008.1.2.4.90 (JPEG 2000 Lossless)"
	if codecs.Cgo {
		if body != "ready\n" || strings.Contains(logs.String(), "cannot decode") {
			t.Errorf("a build with the cgo codecs: /readyz %q, log %s", body, logs.String())
		}
		return
	}
	if !strings.Contains(body, "cannot decode: ") || !strings.Contains(body, j2k) || !strings.Contains(body, "JPEG-LS Lossless") {
		t.Errorf("/readyz %q does not name the syntaxes this build cannot decode", body)
	}
	if !strings.Contains(logs.String(), "cannot decode some compressed transfer syntaxes") || !strings.Contains(logs.String(), j2k) {
		t.Errorf("the start log does not name them:\n%s", logs.String())
	}
}
