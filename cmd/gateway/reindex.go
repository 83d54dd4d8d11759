package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/imgcloud/gateway/records"
)

// reindex rebuilds the Badger index from object storage alone.
func reindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	help{usage: "gateway reindex [--fresh] [--data DIR] [store flags]", summary: "rebuild the index from object storage (stop the gateway first: the index allows one process)",
		example: "gateway reindex --data /var/lib/gateway --fresh", shown: append(offlineFlags(), "fresh")}.install(fs)
	fresh := false
	boolean(fs, &fresh, "fresh", "delete the index folder first and rebuild it from scratch")
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	o, err := openOffline(ctx, cfg, fresh, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	start := time.Now()
	step, done := progressFunc(stderr, "reindex")
	st, err := o.svc.Reindex(ctx, step)
	done()
	el := time.Since(start)
	fmt.Fprintf(stdout, "reindex: %d objects, %d indexed, %d already indexed, %d failed; read %.1f MB of headers in %s (%.0f instances/s)\n",
		st.Objects, st.Indexed, st.Skipped, st.Failed, float64(st.BytesRead)/1e6, el.Round(time.Millisecond), float64(st.Objects)/el.Seconds())
	if err != nil {
		return err
	}
	// Domain records (registry, catalogue, eligibility, decisions, tokens,
	// consents, ...) live in object storage too.
	nrec, err := records.New(o.store, o.db).Rebuild(ctx)
	if err != nil {
		return fmt.Errorf("rebuild records: %w", err)
	}
	fmt.Fprintf(stdout, "reindex: %d domain records restored\n", nrec)
	if st.Failed > 0 {
		return fmt.Errorf("%d object(s) could not be indexed (see the log)", st.Failed)
	}
	return nil
}
