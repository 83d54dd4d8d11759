package corpus

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/imgcloud/gateway/internal/progress"
)

// Main runs the corpus command with command-line arguments (without the
// program and subcommand names), e.g. `gwbench corpus -out /tmp/c -studies 20`.
// Messages go to stdout, the progress bar and usage to stderr.
func Main(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("corpus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (required)")
	studies := fs.Int("studies", 10, "number of studies (with -phantom: studies cycling CT, DX, US)")
	series := fs.Int("series", 2, "series per study")
	instances := fs.Int("instances", 3, "instances per series")
	big := fs.Int("big", 1, "studies using the large sources (7.5 MB CR, 1 MB CT)")
	seed := fs.Int64("seed", 1, "random seed; same options give identical files")
	today := fs.String("today", "", "anchor date YYYYMMDD, studies fall in the 60 days before it (default today)")
	phantom := fs.Bool("phantom", false, "synthesise phantom studies instead of deriving from source files")
	slices := fs.Int("slices", 24, "CT slices per phantom set (with -phantom)")
	sources := fs.String("sources", "", "directory with the source files 1.dcm..6.dcm (default: module cache)")
	quiet := fs.Bool("q", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: corpus -out DIR [flags]\n\nWrites DICOM test studies and DIR/manifest.json.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("corpus: %w", err)
	}
	if *out == "" {
		fs.Usage()
		return errors.New("corpus: -out is required")
	}
	var day time.Time
	if *today != "" {
		d, err := time.Parse(daFormat, *today)
		if err != nil {
			return fmt.Errorf("corpus: -today %q: want YYYYMMDD: %w", *today, err)
		}
		day = d
	}
	var bar io.Writer = stderr
	if *quiet {
		bar = nil
	}

	start := time.Now()
	var m *Manifest
	var err error
	if *phantom {
		m, err = Phantom(*out, PhantomOptions{Studies: *studies, Slices: *slices, Seed: *seed, Today: day, Progress: bar})
	} else {
		m, err = Generate(*out, Options{
			Studies: *studies, SeriesPerStudy: *series, InstancesPerSeries: *instances,
			Big: *big, Seed: *seed, Today: day, Sources: *sources, Progress: bar,
		})
	}
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	fmt.Fprintf(stdout, "corpus: %d files, %d studies, %d patients, %s in %s (%s)\n",
		len(m.Files), len(m.Studies()), len(m.Patients()), progress.Size(m.TotalSize()), *out,
		time.Since(start).Round(time.Millisecond))
	return nil
}
