package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/internal/push"
)

// pushCmd: gateway push [flags] DIR, a STOW-RS upload of a folder.
func pushCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	help{usage: "gateway push [--url URL] [flags] DIR", summary: "upload the DICOM files under DIR with STOW-RS (files of one study grouped per request)",
		example: "GATEWAY_TOKEN=$PACS_TOKEN gateway push --url http://127.0.0.1:8080 ./exports/2026-11"}.install(fs)
	s := bindSite(fs)
	conc := fs.Int("c", push.DefaultConcurrency, "concurrent requests")
	batchMB := fs.Int64("batch-mb", push.DefaultBatchBytes>>20, "largest request in MiB (files of one study are grouped up to it)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one directory (gateway push -h)", errUsage)
	}
	opt := push.Options{BaseURL: s.dicomweb(), Dir: fs.Arg(0), Concurrency: *conc, Token: s.token, BatchBytes: *batchMB << 20}
	if !*quiet {
		opt.Progress = stderr
	}
	return pushAndReport(ctx, opt, stdout)
}

// pushAndReport runs a push, prints its summary and fails when any file
// failed (the summary says why, grouped by reason).
func pushAndReport(ctx context.Context, opt push.Options, stdout io.Writer) error {
	sum, err := push.Run(ctx, opt)
	if sum.Files > 0 || err == nil {
		sum.Print(stdout)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d DICOM files failed (reasons above)", sum.Failed, sum.Stored+sum.Failed)
	}
	return nil
}
