package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// common flags of the measuring subcommands.
type common struct {
	base    string
	src     string
	json    string
	timeout time.Duration
}

func (c *common) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.base, "base", "", "DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb (loopback only)")
	fs.StringVar(&c.src, "src", "", "directory with the source files (default: module cache testdata of github.com/suyashkumar/dicom@v1.1.0)")
	fs.StringVar(&c.json, "json", "", "also write the figures to this JSON file")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "per-request timeout")
}

func (c *common) check() error {
	c.base = strings.TrimRight(c.base, "/")
	if c.base == "" {
		return fmt.Errorf("-base is required")
	}
	return checkLoopback(c.base)
}

func (c *common) template(name string) (*template, error) {
	dir, err := sourceDir(c.src)
	if err != nil {
		return nil, err
	}
	return loadTemplate(filepath.Join(dir, name))
}

// ---------------------------------------------------------------- bigstow

type bigStowOut struct {
	Source      string      `json:"source"`
	Instances   int         `json:"instances"`
	MB          float64     `json:"mb"`
	Seconds     float64     `json:"seconds"`
	MBps        float64     `json:"mb_per_s"`
	InstPerSec  float64     `json:"instances_per_s"`
	PID         int         `json:"pid,omitempty"`
	RSSBeforeMB float64     `json:"rss_before_mb"`
	RSSPeakMB   float64     `json:"rss_peak_sampled_mb"`
	AnonPeakMB  float64     `json:"rss_anon_peak_sampled_mb"`
	AnonBefore  float64     `json:"rss_anon_before_mb"`
	RSSAfterMB  float64     `json:"rss_after_mb"`
	HWMBeforeMB float64     `json:"vmhwm_before_mb"`
	HWMAfterMB  float64     `json:"vmhwm_after_mb"`
	Samples     int         `json:"samples"`
	Curve       []rssSample `json:"curve"`
	StudyUID    string      `json:"study_uid"`
	Verified    string      `json:"verified"`
}

func bigStowCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bigstow", flag.ContinueOnError)
	var c common
	c.bind(fs)
	pid := fs.Int("pid", 0, "server PID whose /proc/PID/status VmRSS/VmHWM is sampled")
	total := fs.Int64("bytes", 1e9, "send at least this many bytes of DICOM (decides the instance count)")
	n := fs.Int("n", 0, "number of instances (overrides -bytes)")
	file := fs.String("file", "4.dcm", "source file in the source directory (the 7.5 MB CR by default)")
	every := fs.Duration("interval", 100*time.Millisecond, "RSS sampling interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	t, err := c.template(*file)
	if err != nil {
		return err
	}
	t.NewStudy()
	if *n <= 0 {
		*n = int((*total + int64(len(t.Data)) - 1) / int64(len(t.Data)))
	}
	out := bigStowOut{Source: *file, Instances: *n, PID: *pid, StudyUID: t.StudyUID}
	if *pid > 0 {
		m, err := readMem(*pid)
		if err != nil {
			return fmt.Errorf("read memory of pid %d: %w", *pid, err)
		}
		out.RSSBeforeMB, out.HWMBeforeMB, out.AnonBefore = mb(m.RSS), mb(m.HWM), mb(m.Anon)
	}
	cl := loopbackClient(c.timeout)
	s := startSampler(*pid, *every)
	res, err := stowCopies(ctx, cl, c.base, t, *n)
	samples, peak, hwm, anon := s.Stop()
	if err != nil {
		return err
	}
	out.MB = mb(res.Bytes)
	out.Seconds = res.Elapsed.Seconds()
	out.MBps = out.MB / out.Seconds
	out.InstPerSec = float64(*n) / out.Seconds
	out.Samples = len(samples)
	out.Curve = curve(samples, 11)
	if *pid > 0 {
		m, err := readMem(*pid)
		if err == nil {
			out.RSSAfterMB, out.HWMAfterMB = mb(m.RSS), mb(max(m.HWM, hwm))
		}
		out.RSSPeakMB = mb(peak)
		out.AnonPeakMB = mb(anon)
	}
	// Read back: the study must list every instance.
	got, err := countInstances(ctx, cl, c.base, t.StudyUID)
	if err != nil {
		return err
	}
	if got != *n {
		return fmt.Errorf("%w: study %s lists %d instances after STOW of %d", errMismatch, t.StudyUID, got, *n)
	}
	out.Verified = fmt.Sprintf("STOW referenced all %d SOPs, 0 failed; QIDO lists %d instances", *n, got)
	fmt.Printf("bigstow: %d x %s in ONE request: %.1f MB in %.1f s = %.1f MB/s (%.1f inst/s)\n",
		*n, *file, out.MB, out.Seconds, out.MBps, out.InstPerSec)
	if *pid > 0 {
		fmt.Printf("bigstow: server pid %d RSS before %.0f MB, peak sampled %.0f MB (%d samples every %s), after %.0f MB; VmHWM before %.0f MB, after %.0f MB\n",
			*pid, out.RSSBeforeMB, out.RSSPeakMB, out.Samples, *every, out.RSSAfterMB, out.HWMBeforeMB, out.HWMAfterMB)
		fmt.Printf("bigstow: RssAnon (heap, stacks) before %.0f MB, peak sampled %.0f MB; the rest of VmRSS is file-backed pages (RssFile: mmapped index files)\n",
			out.AnonBefore, out.AnonPeakMB)
		var pts []string
		for _, p := range out.Curve {
			pts = append(pts, fmt.Sprintf("%.1fs:%.0f(anon %.0f, file %.0f)", float64(p.AtMs)/1000, p.RSSMB, p.AnonMB, p.FileMB))
		}
		fmt.Printf("bigstow: RSS curve (s:MB) %s\n", strings.Join(pts, " "))
	}
	fmt.Printf("bigstow: %s\n", out.Verified)
	return writeJSON(c.json, out)
}

// countInstances asks QIDO for the instances of a study.
func countInstances(ctx context.Context, cl *http.Client, base, study string) (int, error) {
	body, err := get(ctx, cl, base+"/studies/"+study+"/instances", "application/dicom+json")
	if err != nil {
		return 0, err
	}
	var arr []json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, nil
	}
	if err := json.Unmarshal(body, &arr); err != nil {
		return 0, fmt.Errorf("QIDO instances of %s: %w", study, err)
	}
	return len(arr), nil
}

func get(ctx context.Context, cl *http.Client, u, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, httpError("GET "+u, resp, body)
	}
	return body, nil
}

// ---------------------------------------------------------------- series

type seriesOut struct {
	Source       string    `json:"source"`
	Instances    int       `json:"instances"`
	StowSeconds  float64   `json:"stow_seconds"`
	StowInstPerS float64   `json:"stow_instances_per_s"`
	StowMBps     float64   `json:"stow_mb_per_s"`
	Clients      int       `json:"clients"`
	Verify       string    `json:"verify"`
	Latency      latencies `json:"metadata_latency"`
	ReqPerSec    float64   `json:"metadata_req_per_s"`
	Bytes        int       `json:"metadata_bytes"`
	Errors       int       `json:"errors"`
	Mismatches   int       `json:"mismatches"`
	FirstError   string    `json:"first_error,omitempty"`
}

func seriesCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("series", flag.ContinueOnError)
	var c common
	c.bind(fs)
	n := fs.Int("n", 500, "instances in the series")
	var lf loopFlags
	lf.bind(fs, 100, 3, 2*time.Minute)
	file := fs.String("file", "3.dcm", "source file (the 64 KB MR by default)")
	verify := fs.String("verify", "json", "how each answer is checked: json (decoded in full) or scan (data sets counted and every SOP Instance UID found in the bytes: a client light enough not to hide the server's rate when both share the CPU)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verify != "json" && *verify != "scan" {
		return fmt.Errorf("-verify must be json or scan, not %q", *verify)
	}
	if err := c.check(); err != nil {
		return err
	}
	t, err := c.template(*file)
	if err != nil {
		return err
	}
	t.NewStudy()
	cl := loopbackClient(c.timeout)
	res, err := stowCopies(ctx, cl, c.base, t, *n)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range res.SOPs {
		want[s] = true
	}
	out := seriesOut{Source: *file, Verify: *verify, Instances: *n, StowSeconds: res.Elapsed.Seconds(),
		StowInstPerS: float64(*n) / res.Elapsed.Seconds(), StowMBps: mb(res.Bytes) / res.Elapsed.Seconds(), Clients: lf.conc}
	u := c.base + "/studies/" + t.StudyUID + "/series/" + t.SeriesUID + "/metadata"
	check := func(body []byte) error {
		if *verify == "scan" {
			return scanMetadata(body, res.SOPs)
		}
		var arr []map[string]struct {
			Value []any `json:"Value"`
		}
		if err := json.Unmarshal(body, &arr); err != nil {
			return fmt.Errorf("metadata is not DICOM JSON: %w", err)
		}
		if len(arr) != *n {
			return fmt.Errorf("%w: metadata lists %d instances, want %d", errMismatch, len(arr), *n)
		}
		seen := map[string]bool{}
		for _, o := range arr {
			v := o["00080018"].Value
			s, _ := func() (string, bool) {
				if len(v) == 0 {
					return "", false
				}
				s, ok := v[0].(string)
				return s, ok
			}()
			if !want[s] || seen[s] {
				return fmt.Errorf("%w: metadata has unexpected or repeated SOP %q", errMismatch, s)
			}
			seen[s] = true
			if se := o["0020000E"].Value; len(se) == 0 || se[0] != t.SeriesUID {
				return fmt.Errorf("%w: metadata item of %s has SeriesInstanceUID %v", errMismatch, s, se)
			}
		}
		return nil
	}
	for i := 0; i < lf.warm; i++ {
		if _, err := get(ctx, cl, u, "application/dicom+json"); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	r := lf.run(ctx, func() (time.Duration, int, error) {
		start := time.Now()
		body, err := get(ctx, cl, u, "application/dicom+json")
		d := time.Since(start)
		if err != nil {
			return d, 0, err
		}
		return d, len(body), check(body)
	})
	out.Latency, out.ReqPerSec = summarize(r.durs), r.rate()
	out.Bytes, out.Errors, out.Mismatches, out.FirstError = r.size, r.errors, r.mismatches, r.firstErr
	fmt.Printf("series: stored %d x %s in one STOW: %.2f s (%.0f inst/s, %.1f MB/s)\n", *n, *file, out.StowSeconds, out.StowInstPerS, out.StowMBps)
	fmt.Printf("series: /series/{uid}/metadata of %d instances, c=%d, verify %s: %d req, %.1f req/s, %.2f MB each, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; errors %d, mismatches %d\n",
		*n, lf.conc, *verify, out.Latency.N, out.ReqPerSec, mb(int64(out.Bytes)), out.Latency.P50ms, out.Latency.P90ms, out.Latency.P99ms, out.Latency.Maxms, r.errors, r.mismatches)
	return finish("series", c.json, out, out.Errors, out.Mismatches, out.FirstError)
}

// scanMetadata checks a series metadata answer without decoding it: a JSON
// array with one SOPInstanceUID attribute per instance, each expected UID
// present as a JSON string.
func scanMetadata(body []byte, sops []string) error {
	b := bytes.TrimSpace(body)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return fmt.Errorf("metadata is not a JSON array")
	}
	if got := bytes.Count(b, []byte(`"00080018"`)); got != len(sops) {
		return fmt.Errorf("%w: metadata has %d SOPInstanceUID attributes, want %d", errMismatch, got, len(sops))
	}
	for _, s := range sops {
		if !bytes.Contains(b, []byte(`"`+s+`"`)) {
			return fmt.Errorf("%w: metadata lacks SOP instance %s", errMismatch, s)
		}
	}
	return nil
}

// loopFlags are the flags of a measured request loop.
type loopFlags struct {
	reps, warm, conc int
	max              time.Duration
}

func (lf *loopFlags) bind(fs *flag.FlagSet, reps, warm int, max time.Duration) {
	fs.IntVar(&lf.reps, "reps", reps, "measured requests")
	fs.IntVar(&lf.warm, "warmup", warm, "unmeasured requests first")
	fs.IntVar(&lf.conc, "c", 1, "concurrent clients")
	fs.DurationVar(&lf.max, "max", max, "stop issuing requests after this long")
}

// loopResult is what a request loop measured.
type loopResult struct {
	durs               []time.Duration // of successful, checked calls
	size               int             // of one answer
	errors, mismatches int
	firstErr           string
	elapsed            time.Duration
}

func (r loopResult) rate() float64 { return float64(len(r.durs)) / r.elapsed.Seconds() }

// run calls op reps times with conc workers, bounded by max.
func (lf loopFlags) run(ctx context.Context, op func() (time.Duration, int, error)) loopResult {
	var (
		mu   sync.Mutex
		r    loopResult
		next int
	)
	deadline := time.Now().Add(lf.max)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < max(1, lf.conc); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= lf.reps || time.Now().After(deadline) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				d, n, err := op()
				mu.Lock()
				switch {
				case err == nil:
					r.durs = append(r.durs, d)
					r.size = n
				case errors.Is(err, errMismatch):
					r.mismatches++
				default:
					r.errors++
				}
				if err != nil && r.firstErr == "" {
					r.firstErr = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// finish reports the first problem, writes the figures and fails the
// command when any request failed or mismatched.
func finish(cmd, jsonPath string, out any, nerr, nmis int, firstErr string) error {
	if firstErr != "" {
		fmt.Printf("%s: first error: %s\n", cmd, firstErr)
	}
	if err := writeJSON(jsonPath, out); err != nil {
		return err
	}
	if nerr+nmis > 0 {
		return fmt.Errorf("%d errors, %d mismatches", nerr, nmis)
	}
	return nil
}

// stowCopies stores n copies of t, each with a fresh SOP Instance UID, in
// one STOW request; the first copy is checked against its source.
func stowCopies(ctx context.Context, cl *http.Client, base string, t *template, n int) (*stowResult, error) {
	return streamStow(ctx, cl, base, n, func(i int, w io.Writer) (string, error) {
		t.NewSOP()
		if i == 0 {
			if err := t.verify(); err != nil {
				return "", err
			}
		}
		_, err := w.Write(t.Data)
		return t.SOPUID, err
	})
}

// ---------------------------------------------------------------- frame

type frameOut struct {
	Source     string               `json:"source"`
	Frames     int                  `json:"frames_in_instance"`
	FrameBytes int                  `json:"frame_bytes"`
	Accept     string               `json:"accept"`
	Clients    int                  `json:"clients"`
	PerFrame   map[string]latencies `json:"latency"`
	ReqPerSec  map[string]float64   `json:"req_per_s"`
	Errors     int                  `json:"errors"`
	Mismatches int                  `json:"mismatches"`
	FirstError string               `json:"first_error,omitempty"`
	Compared   string               `json:"compared"`
}

func frameCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("frame", flag.ContinueOnError)
	var c common
	c.bind(fs)
	var lf loopFlags
	lf.bind(fs, 300, 5, time.Minute)
	file := fs.String("file", "5.dcm", "multi-frame source file (the 2-frame enhanced CT by default)")
	accept := fs.String("accept", `multipart/related; type="application/octet-stream"`, "Accept header for /frames")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	t, err := c.template(*file)
	if err != nil {
		return err
	}
	if t.Frames < 2 {
		return fmt.Errorf("%s has %d frame(s); a multi-frame file is needed", *file, t.Frames)
	}
	t.NewStudy()
	cl := loopbackClient(c.timeout)
	if _, err := stowCopies(ctx, cl, c.base, t, 1); err != nil {
		return err
	}
	fb := t.FrameBytes()
	// Native pixel data at the end of the file: compare the exact bytes.
	var pixels []byte
	if all := t.Frames * fb; len(t.Data) >= all+4 && int(binary.LittleEndian.Uint32(t.Data[len(t.Data)-all-4:])) == all {
		pixels = t.Data[len(t.Data)-all:]
	}
	out := frameOut{Source: *file, Frames: t.Frames, FrameBytes: fb, Accept: *accept, Clients: lf.conc,
		PerFrame: map[string]latencies{}, ReqPerSec: map[string]float64{}, Compared: "size only"}
	if pixels != nil {
		out.Compared = "exact bytes of each frame"
	}
	inst := c.base + "/studies/" + t.StudyUID + "/series/" + t.SeriesUID + "/instances/" + t.SOPUID
	for _, k := range []int{2, 1} {
		u := fmt.Sprintf("%s/frames/%d", inst, k)
		var want []byte
		if pixels != nil {
			want = pixels[(k-1)*fb : k*fb]
		}
		op := func() (time.Duration, int, error) {
			start := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return 0, 0, err
			}
			req.Header.Set("Accept", *accept)
			resp, err := cl.Do(req)
			if err != nil {
				return 0, 0, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if err != nil {
				return d, 0, err
			}
			if resp.StatusCode/100 != 2 {
				return d, 0, httpError("GET "+u, resp, body)
			}
			frame, err := onePart(resp.Header.Get("Content-Type"), body)
			if err != nil {
				return d, 0, err
			}
			if len(frame) != fb {
				return d, 0, fmt.Errorf("%w: frame %d has %d bytes, want %d", errMismatch, k, len(frame), fb)
			}
			if want != nil && !bytes.Equal(frame, want) {
				return d, 0, fmt.Errorf("%w: frame %d bytes differ from the stored frame", errMismatch, k)
			}
			return d, len(body), nil
		}
		for i := 0; i < lf.warm; i++ {
			op()
		}
		r := lf.run(ctx, op)
		key := fmt.Sprintf("frame%d", k)
		out.PerFrame[key] = summarize(r.durs)
		out.ReqPerSec[key] = r.rate()
		out.Errors += r.errors
		out.Mismatches += r.mismatches
		if out.FirstError == "" {
			out.FirstError = r.firstErr
		}
		l := out.PerFrame[key]
		fmt.Printf("frame: /frames/%d of a %d-frame %s (%d-byte frames, %s), c=%d: %d req, %.0f req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d, mismatches %d\n",
			k, t.Frames, t.Modality, fb, out.Compared, lf.conc, l.N, out.ReqPerSec[key], l.P50ms, l.P90ms, l.P99ms, l.Maxms, r.errors, r.mismatches)
	}
	return finish("frame", c.json, out, out.Errors, out.Mismatches, out.FirstError)
}

// onePart returns the body of the single part of a multipart answer (or the
// whole body for a single-part answer).
func onePart(ct string, body []byte) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("answer Content-Type %q: %w", ct, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return body, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: multipart answer: %v", errMismatch, err)
	}
	b, err := io.ReadAll(p)
	if err != nil {
		return nil, fmt.Errorf("%w: multipart answer: %v", errMismatch, err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one part in a one-frame answer", errMismatch)
	}
	return b, nil
}
