package dicomweb

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
)

// partWriter writes a multipart/related body part by part, streaming each
// part's bytes. Part headers are spelled exactly "Content-Type:" since some
// viewers' loaders look for that spelling.
type partWriter struct {
	w        io.Writer
	boundary string
	parts    int
}

func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startMultipart sets the response headers of a multipart/related answer
// whose parts have media type typ, with optional extra type parameters.
func startMultipart(w http.ResponseWriter, status int, typ, typeParams string) *partWriter {
	b := newBoundary()
	t := typ
	if typeParams != "" {
		t += "; " + typeParams
	}
	w.Header().Set("Content-Type", fmt.Sprintf(`multipart/related; type=%q; boundary=%s`, t, b))
	w.WriteHeader(status)
	return &partWriter{w: w, boundary: b}
}

// part writes one part: headers, then the bytes from r.
func (p *partWriter) part(contentType string, length int64, location string, r io.Reader) error {
	hdr := "\r\n--" + p.boundary + "\r\nContent-Type: " + contentType + "\r\n"
	if p.parts == 0 {
		hdr = hdr[2:]
	}
	if length >= 0 {
		hdr += fmt.Sprintf("Content-Length: %d\r\n", length)
	}
	if location != "" {
		hdr += "Content-Location: " + location + "\r\n"
	}
	hdr += "\r\n"
	p.parts++
	if _, err := io.WriteString(p.w, hdr); err != nil {
		return err
	}
	if _, err := io.Copy(p.w, r); err != nil {
		return fmt.Errorf("write part: %w", err)
	}
	return nil
}

// close writes the closing boundary.
func (p *partWriter) close() error {
	_, err := io.WriteString(p.w, "\r\n--"+p.boundary+"--\r\n")
	return err
}
