package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/progress"
	"github.com/imgcloud/gateway/records"
)

// reindex rebuilds the Badger index from object storage alone.
func reindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	fresh := false
	boolean(fs, &fresh, "fresh", "delete the index folder first and rebuild it from scratch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogJSON, cfg.Debug)
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	dir := filepath.Join(cfg.Data, "index")
	if fresh {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	db, err := index.Open(index.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer db.Close()
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	svc := archive.New(store, db, archive.Options{TempDir: tmp, Logger: log})
	start := time.Now()
	var bar *progress.Bar
	st, err := svc.Reindex(ctx, func(done, total int) {
		if bar == nil {
			bar = progress.New(stderr, int64(total), "reindex")
		}
		bar.Add(1)
	})
	if bar != nil {
		bar.Finish()
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "reindex: %d objects, %d indexed, %d already indexed, %d failed; read %.1f MB of headers in %s (%.0f instances/s)\n",
		st.Objects, st.Indexed, st.Skipped, st.Failed, float64(st.BytesRead)/1e6, el.Round(time.Millisecond), float64(st.Objects)/el.Seconds())
	if err != nil {
		return err
	}
	// Domain records (registry, catalogue, eligibility, decisions, tokens,
	// consents, ...) live in object storage too.
	nrec, err := records.New(store, db).Rebuild(ctx)
	if err != nil {
		return fmt.Errorf("rebuild records: %w", err)
	}
	fmt.Fprintf(stdout, "reindex: %d domain records restored\n", nrec)
	if st.Failed > 0 {
		return fmt.Errorf("%d object(s) could not be indexed (see the log)", st.Failed)
	}
	return nil
}
