package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/demo"
	"github.com/imgcloud/gateway/internal/push"
)

// loadDemoIfEmpty stores the demo studies in-process when the index holds
// nothing, so a newcomer sees data at once. They are synthesised in memory
// (internal/demo): no module cache, no network, no temporary files.
func loadDemoIfEmpty(ctx context.Context, svc *archive.Service, db index.Store, log *slog.Logger) error {
	if _, _, n := db.Counts(); n > 0 {
		return nil
	}
	start := time.Now()
	files, err := demo.Files(time.Now())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stored := make([]*archive.Stored, 0, len(files))
	studies := map[string]bool{}
	for _, f := range files {
		st, err := svc.Store(ctx, bytes.NewReader(f.Data), "")
		if err != nil {
			return fmt.Errorf("demo: store %s: %w", f.Path, err)
		}
		stored = append(stored, st)
		studies[f.StudyUID] = true
	}
	if err := svc.Commit(ctx, stored); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log.Info("loaded demo studies", "instances", len(stored), "studies", len(studies), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// demoCmd writes the demo studies to a temporary folder and pushes them to
// a running gateway, as push does (the same --url and --token).
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	help{usage: "gateway demo [--url URL]", summary: "load the 8 built-in demo studies (synthesised, no files or network needed) into a running gateway",
		example: "GATEWAY_TOKEN=$ADMIN gateway demo --url http://127.0.0.1:8080"}.install(fs)
	s := bindSite(fs)
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gateway-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := demo.WriteDir(dir, time.Now()); err != nil {
		return err
	}
	return pushAndReport(ctx, push.Options{BaseURL: s.dicomweb(), Dir: dir, Token: s.token, Progress: stderr}, stdout)
}
