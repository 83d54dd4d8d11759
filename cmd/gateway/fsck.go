package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/progress"
)

// fsck compares the index with object storage (the gateway must be
// stopped: Badger allows one process per index). Exit status 1 when
// something is wrong after the optional repairs.
func fsck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	var deep, repair bool
	fs.BoolVar(&deep, "deep", false, "re-hash every object against its recorded digest")
	fs.BoolVar(&repair, "repair", false, "drop rows without objects and index objects without rows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(cfg.Data, "index")})
	if err != nil {
		return err
	}
	defer db.Close()
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	svc := archive.New(store, db, archive.Options{TempDir: tmp, Logger: newLogger(stderr, cfg.LogJSON, cfg.Debug)})
	var bar *progress.Bar
	rep, err := svc.Fsck(ctx, archive.FsckOptions{Deep: deep, Repair: repair, Progress: func(done, total int) {
		if bar == nil {
			bar = progress.New(stderr, int64(total), "fsck")
		}
		bar.Add(1)
	}})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fsck: %d rows, %d objects; %d dangling rows, %d orphan objects, %d corrupt objects; %d repaired\n",
		rep.Rows, rep.Objects, len(rep.Dangling), len(rep.Orphans), len(rep.Corrupt), rep.Repaired)
	for _, list := range []struct {
		name string
		keys []string
	}{{"dangling row", rep.Dangling}, {"orphan object", rep.Orphans}, {"corrupt object", rep.Corrupt}} {
		for i, k := range list.keys {
			if i == 20 {
				fmt.Fprintf(stdout, "  ... %d more\n", len(list.keys)-20)
				break
			}
			fmt.Fprintf(stdout, "  %s: %s\n", list.name, k)
		}
	}
	if !rep.Clean() {
		return fmt.Errorf("problems remain (run with --repair for dangling rows and orphans)")
	}
	return nil
}
