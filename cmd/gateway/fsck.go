package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/archive"
)

// fsck compares the index with object storage (the gateway must be
// stopped: Badger allows one process per index). Exit status 1 when
// something is wrong after the optional repairs.
func fsck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	help{usage: "gateway fsck [--deep] [--repair] [--data DIR] [store flags]", summary: "compare the index with object storage (stop the gateway first); exit status 1 when problems remain",
		example: "gateway fsck --data /var/lib/gateway --deep --repair", shown: append(offlineFlags(), "deep", "repair")}.install(fs)
	var deep, repair bool
	fs.BoolVar(&deep, "deep", false, "re-hash every object against its recorded digest")
	fs.BoolVar(&repair, "repair", false, "drop rows without objects and index objects without rows")
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	o, err := openOffline(ctx, cfg, false, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	step, done := progressFunc(stderr, "fsck")
	rep, err := o.svc.Fsck(ctx, archive.FsckOptions{Deep: deep, Repair: repair, Progress: step})
	done()
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
