package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"sort"
	"time"
)

// stowResult is what one STOW request did.
type stowResult struct {
	Instances int           `json:"instances"`
	Bytes     int64         `json:"bytes"` // DICOM payload sent (file bytes)
	Elapsed   time.Duration `json:"elapsed_ns"`
	Status    int           `json:"status"`
	Stored    int           `json:"stored"`
	Failed    int           `json:"failed"`
	SOPs      []string      `json:"-"`
}

// countingWriter counts bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// streamStow sends one multipart/related STOW request to base/studies whose
// n parts are produced by next (called once per part, in order, and
// expected to write one whole DICOM file). The body goes through an
// io.Pipe: nothing but the template is held in memory.
func streamStow(ctx context.Context, c *http.Client, base string, n int, next func(i int, w io.Writer) (string, error)) (*stowResult, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	res := &stowResult{Instances: n}
	var payload countingWriter
	done := make(chan struct{})
	go func() {
		defer close(done)
		hdr := textproto.MIMEHeader{"Content-Type": {"application/dicom"}}
		for i := 0; i < n; i++ {
			part, err := mw.CreatePart(hdr)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			payload.w = part
			sop, err := next(i, &payload)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			res.SOPs = append(res.SOPs, sop)
		}
		pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/studies", pr)
	if err != nil {
		pr.Close()
		<-done
		return nil, err
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		<-done
		return nil, fmt.Errorf("STOW: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	res.Elapsed = time.Since(start)
	pr.Close()
	<-done
	if err != nil {
		return nil, fmt.Errorf("STOW answer: %w", err)
	}
	res.Bytes = payload.n
	res.Status = resp.StatusCode
	if resp.StatusCode/100 != 2 {
		return res, httpError("STOW", resp, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return res, fmt.Errorf("STOW answer is not DICOM JSON: %w", err)
	}
	type item = map[string]struct {
		Value []any `json:"Value"`
	}
	seq := func(tag string) ([]item, error) {
		var sq struct {
			Value []item `json:"Value"`
		}
		if r, ok := raw[tag]; ok {
			if err := json.Unmarshal(r, &sq); err != nil {
				return nil, fmt.Errorf("STOW answer %s: %w", tag, err)
			}
		}
		return sq.Value, nil
	}
	refs, err := seq("00081199")
	if err != nil {
		return res, err
	}
	fails, err := seq("00081198")
	if err != nil {
		return res, err
	}
	res.Stored, res.Failed = len(refs), len(fails)
	got := map[string]bool{}
	for _, it := range refs {
		if v := it["00081155"].Value; len(v) > 0 {
			if s, ok := v[0].(string); ok {
				got[s] = true
			}
		}
	}
	for _, s := range res.SOPs {
		if !got[s] {
			return res, fmt.Errorf("%w: STOW answer does not reference SOP %s (%d referenced, %d failed, %d sent)", errMismatch, s, res.Stored, res.Failed, n)
		}
	}
	if res.Failed > 0 || res.Stored != n {
		return res, fmt.Errorf("%w: STOW stored %d and failed %d of %d", errMismatch, res.Stored, res.Failed, n)
	}
	return res, nil
}

// latencies summarises request durations.
type latencies struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
	Minms float64 `json:"min_ms"`
}

func summarize(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1 // nearest rank
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return latencies{N: len(s), P50ms: q(0.50), P90ms: q(0.90), P99ms: q(0.99), Maxms: ms(s[len(s)-1]), Minms: ms(s[0])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
