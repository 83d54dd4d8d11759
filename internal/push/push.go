// Package push uploads a folder of DICOM Part 10 files to a DICOMweb STOW-RS
// endpoint, grouping the files of one study into streamed multipart requests
// and mapping the server's DICOM JSON answer back to files.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imgcloud/gateway/internal/progress"
)

// Defaults for Options fields left zero.
const (
	DefaultConcurrency  = 4
	DefaultBatchBytes   = 32 << 20
	DefaultRetryBackoff = time.Second
	maxRetries          = 2 // a batch is tried at most 1 + maxRetries times
	maxNetRetries       = 1 // after a network error, at most 1 + maxNetRetries
)

// Options controls Run.
type Options struct {
	// BaseURL is the DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb;
	// files are POSTed to BaseURL + "/studies".
	BaseURL string
	// Dir is walked recursively for DICOM Part 10 files. It may be a file.
	Dir string
	// Concurrency is the number of requests in flight; default 4.
	Concurrency int
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// BatchBytes caps the size of one request: files of the same study are
	// grouped up to this many bytes; a larger file goes alone. Default 32 MiB.
	BatchBytes int64
	// Client sends the requests; default a client with no timeout beyond ctx.
	Client *http.Client
	// Progress, when set, receives a progress bar counting bytes.
	Progress io.Writer
	// RetryBackoff is the wait before the first retry of a batch after a
	// network error or HTTP 502/503/504, doubled for the second; default 1s.
	RetryBackoff time.Duration
}

// Failure is a file that was not stored (or, in Summary.Skips, not sent).
type Failure struct {
	Path   string
	SOPUID string // empty when unknown
	Reason string
}

// Summary is the outcome of Run. Files = Stored + Failed + Skipped.
type Summary struct {
	Files   int // regular files found under Dir
	Stored  int
	Failed  int
	Skipped int   // files that are not DICOM Part 10
	Bytes   int64 // size of the DICOM files sent
	// StoredBytes is the size of the files stored: the throughput counts
	// only these.
	StoredBytes int64
	Failures    []Failure
	Skips       []Failure
	Duration    time.Duration
}

// withDefaults validates o, fills in defaults and returns the STOW-RS URL.
func (o Options) withDefaults() (Options, string, error) {
	if o.BaseURL == "" {
		return o, "", errors.New("no base URL")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil {
		return o, "", fmt.Errorf("base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return o, "", fmt.Errorf("base URL %q: scheme must be http or https", o.BaseURL)
	}
	if o.Dir == "" {
		return o, "", errors.New("no directory")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Concurrency
		o.Client = &http.Client{Transport: tr}
	}
	return o, strings.TrimRight(o.BaseURL, "/") + "/studies", nil
}

// Run uploads every DICOM file under opt.Dir and reports what happened to
// each. Files the server refuses are failures in the Summary, not errors; the
// error is for bad options, an unreadable Dir or a cancelled ctx.
func Run(ctx context.Context, opt Options) (Summary, error) {
	start := time.Now()
	opt, stowURL, err := opt.withDefaults()
	if err != nil {
		return Summary{}, fmt.Errorf("push: %w", err)
	}
	sc, err := scan(ctx, opt.Dir)
	if err != nil {
		return Summary{}, fmt.Errorf("push %s: %w", opt.Dir, err)
	}
	sum := Summary{
		Files:    len(sc.files) + len(sc.unreadable) + len(sc.skipped),
		Skipped:  len(sc.skipped),
		Skips:    sc.skipped,
		Failures: sc.unreadable,
		Failed:   len(sc.unreadable),
	}
	batches := makeBatches(sc.files, opt.BatchBytes)
	var total int64
	for _, f := range sc.files {
		total += f.size
	}
	bar := progress.NewBytes(opt.Progress, total, "push")

	up := &uploader{client: opt.Client, url: stowURL, token: opt.Token, backoff: opt.RetryBackoff}
	var mu sync.Mutex
	jobs := make(chan *batch)
	var wg sync.WaitGroup
	for i := 0; i < opt.Concurrency; i++ {
		wg.Go(func() {
			for b := range jobs {
				outs := up.send(ctx, b)
				mu.Lock()
				failed := sum.add(b, outs)
				mu.Unlock()
				bar.Add(b.bytes - failed)
				bar.AddFailed(failed)
			}
		})
	}
	for _, b := range batches {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	bar.Finish()

	slices.SortFunc(sum.Failures, func(a, b Failure) int { return strings.Compare(a.Path, b.Path) })
	sum.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("push %s: %w", opt.Dir, err)
	}
	return sum, nil
}

// add records the outcomes of one batch and returns the bytes of the
// files that failed.
func (s *Summary) add(b *batch, outs []outcome) (failed int64) {
	s.Bytes += b.bytes
	for i, f := range b.files {
		if outs[i].stored {
			s.Stored++
			s.StoredBytes += f.size
			continue
		}
		s.Failed++
		failed += f.size
		s.Failures = append(s.Failures, Failure{Path: f.path, SOPUID: f.sopUID, Reason: outs[i].reason})
	}
	return failed
}
