package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/push"
)

// demoStudies writes a few demo studies into dir: derived from the real
// files shipped with the DICOM library when its module is on this machine,
// synthetic phantoms otherwise (a binary deployed without Go).
func demoStudies(dir string) (*corpus.Manifest, error) {
	man, err := corpus.Generate(dir, corpus.Options{
		Studies: 8, SeriesPerStudy: 2, InstancesPerSeries: 2, Big: 2, Seed: 2026, Today: time.Now(),
	})
	if err == nil {
		return man, nil
	}
	return corpus.Phantom(dir, corpus.PhantomOptions{})
}

// loadDemoIfEmpty stores the demo studies in-process when the index holds
// nothing, so a newcomer sees data at once.
func loadDemoIfEmpty(ctx context.Context, svc *archive.Service, db *index.DB, tmp string, log *slog.Logger) error {
	if _, _, n := db.Counts(); n > 0 {
		return nil
	}
	dir, err := os.MkdirTemp(tmp, "demo-*")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	man, err := demoStudies(dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var stored []*archive.Stored
	for _, f := range man.Files {
		fh, err := os.Open(filepath.Join(dir, f.Path))
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		st, err := svc.Store(ctx, fh, "")
		fh.Close()
		if err != nil {
			return fmt.Errorf("demo: store %s: %w", f.Path, err)
		}
		stored = append(stored, st)
	}
	if err := svc.Commit(ctx, stored); err != nil {
		return err
	}
	log.Info("loaded demo studies", "instances", len(stored), "studies", len(man.Studies()))
	return nil
}

// demo generates the demo studies and pushes them to a running gateway.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	if _, err := demoStudies(dir); err != nil {
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
