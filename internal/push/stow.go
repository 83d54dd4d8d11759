package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 32 << 20

// maxRetryAfter caps a server's Retry-After request.
const maxRetryAfter = 30 * time.Second

// uploader sends batches to one STOW-RS URL.
type uploader struct {
	client  *http.Client
	url     string
	token   string
	backoff time.Duration
	down    atomic.Pointer[string] // the network error that stopped sending
}

// outcome is what happened to one file of a batch.
type outcome struct {
	stored bool
	reason string
}

// send uploads a batch, retrying a network error once and HTTP
// 502/503/504 twice, and returns one outcome per file. After a batch's
// network error survived its retry, the batches after it are not sent:
// they fail with that error (the server is down or unreachable; trying
// each batch would only repeat it).
func (u *uploader) send(ctx context.Context, b *batch) []outcome {
	if reason := u.down.Load(); reason != nil {
		return allFailed(len(b.files), *reason)
	}
	wait := u.backoff
	for attempt := 0; ; attempt++ {
		status, header, body, err := u.post(ctx, b)
		retryable := err != nil || status == http.StatusBadGateway ||
			status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
		last := attempt == maxRetries || (err != nil && attempt == maxNetRetries)
		if !retryable || last || ctx.Err() != nil {
			if err != nil {
				reason := err.Error()
				if ctx.Err() == nil {
					u.down.CompareAndSwap(nil, &reason)
				}
				return allFailed(len(b.files), reason)
			}
			return mapResponse(status, header.Get("Content-Type"), body, b.files)
		}
		if d := retryAfter(header); d > wait {
			wait = d
		}
		select {
		case <-ctx.Done():
			return allFailed(len(b.files), ctx.Err().Error())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// retryAfter returns a Retry-After delay given in seconds, capped, or 0.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, maxRetryAfter)
}

// allFailed returns n failed outcomes with the same reason.
func allFailed(n int, reason string) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i].reason = reason
	}
	return out
}

// post sends one multipart/related request, streaming the files from disk,
// and returns the response status, header and (bounded) body.
func (u *uploader) post(ctx context.Context, b *batch) (int, http.Header, []byte, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	length, err := multipartLength(mw.Boundary(), b.files)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, pr)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("post %s: %w", u.url, err)
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		err := writeParts(mw, b.files)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer func() {
		pr.Close() // unblocks the writer if the request ended early
		<-done
	}()

	resp, err := u.client.Do(req)
	if err != nil {
		return 0, nil, nil, err // *url.Error already names method and URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("post %s: read response: %w", u.url, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// partHeader is the MIME header of every part.
func partHeader() textproto.MIMEHeader {
	return textproto.MIMEHeader{"Content-Type": {"application/dicom"}}
}

// writeParts streams each file as one application/dicom part.
func writeParts(mw *multipart.Writer, files []*file) error {
	buf := make([]byte, 256<<10)
	for _, f := range files {
		part, err := mw.CreatePart(partHeader())
		if err != nil {
			return err
		}
		if err := copyFile(part, f, buf); err != nil {
			return err
		}
	}
	return nil
}

// copyFile writes the file's content, checking it still has the size seen
// when scanning (the Content-Length depends on it).
func copyFile(w io.Writer, f *file, buf []byte) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	n, err := io.CopyBuffer(w, fh, buf)
	if err != nil {
		return err
	}
	if n != f.size {
		return fmt.Errorf("%s changed size during upload (%d, was %d)", f.path, n, f.size)
	}
	return nil
}

// countingWriter counts bytes written to it.
type countingWriter struct{ n int64 }

// Write counts p.
func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// multipartLength computes the exact body length for files and a boundary,
// by writing the multipart framing without the file contents.
func multipartLength(boundary string, files []*file) (int64, error) {
	var c countingWriter
	mw := multipart.NewWriter(&c)
	if err := mw.SetBoundary(boundary); err != nil {
		return 0, errors.New("multipart boundary: " + err.Error())
	}
	var content int64
	for _, f := range files {
		if _, err := mw.CreatePart(partHeader()); err != nil {
			return 0, err
		}
		content += f.size
	}
	if err := mw.Close(); err != nil {
		return 0, err
	}
	return c.n + content, nil
}
