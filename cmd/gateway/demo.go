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
func loadDemoIfEmpty(ctx context.Context, svc *archive.Service, db *index.DB, log *slog.Logger) error {
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
// a running gateway.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := "http://127.0.0.1:8080/dicomweb"
	str(fs, &u, "url", "DICOMweb root of the gateway")
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
	sum, err := push.Run(ctx, push.Options{BaseURL: u, Dir: dir, Progress: stderr})
	sum.Print(stdout)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d instance(s) failed", sum.Failed)
	}
	return nil
}
