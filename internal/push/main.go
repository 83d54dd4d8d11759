package push

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Main runs the push command with command-line arguments (without the
// program and subcommand names), e.g.
// `gateway push -url http://127.0.0.1:8080/dicomweb /data/studies`.
// The summary goes to stdout, the progress bar and usage to stderr. It
// returns an error when any file failed.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", os.Getenv("GATEWAY_URL"), "DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb (env GATEWAY_URL)")
	dir := fs.String("dir", "", "directory to upload (or give it as the argument)")
	conc := fs.Int("c", DefaultConcurrency, "concurrent requests")
	token := fs.String("token", "", "bearer token (default: env GATEWAY_TOKEN; never printed)")
	batchMB := fs.Int64("batch-mb", DefaultBatchBytes>>20, "max MiB per request (files of one study are grouped)")
	quiet := fs.Bool("q", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: push -url URL [flags] DIR\n\nUploads the DICOM files under DIR with STOW-RS.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("push: %w", err)
	}
	if *token == "" {
		*token = os.Getenv("GATEWAY_TOKEN") // read after parsing, so that -h never shows it
	}
	switch {
	case *dir == "" && fs.NArg() == 1:
		*dir = fs.Arg(0)
	case fs.NArg() > 1 || (*dir != "" && fs.NArg() > 0):
		fs.Usage()
		return errors.New("push: give one directory")
	}
	if *base == "" || *dir == "" {
		fs.Usage()
		return errors.New("push: -url and a directory are required")
	}
	opt := Options{BaseURL: *base, Dir: *dir, Concurrency: *conc, Token: *token, BatchBytes: *batchMB << 20}
	if !*quiet {
		opt.Progress = stderr
	}
	sum, err := Run(ctx, opt)
	if sum.Files > 0 || err == nil {
		sum.Print(stdout)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("push: %d of %d DICOM files failed", sum.Failed, sum.Stored+sum.Failed)
	}
	return nil
}
