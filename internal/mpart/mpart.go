// Package mpart reads a multipart body (RFC 2046) part by part. It exists
// for STOW-RS, whose parts are megabytes of binary pixel data: for every
// buffer, mime/multipart also scans backwards, byte by byte, for the last
// line break, which cost 8% of ingest CPU. Here a buffer is searched once,
// with bytes.Index, for the delimiter.
package mpart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
)

// Limits on what precedes the parts' bodies, which are read in memory.
const (
	maxPreamble    = 64 << 10
	maxHeaderBytes = 16 << 10
	maxHeaderLines = 64
)

// ErrFormat marks a body that is not multipart as announced.
var ErrFormat = errors.New("malformed multipart body")

// Reader reads the parts of one multipart body.
type Reader struct {
	br      *bufio.Reader
	dash    []byte // "--boundary"
	delim   []byte // "\r\n--boundary" (or "\n--boundary" for LF-only bodies)
	part    *Part
	pending int // length of the delimiter that ended the current part
	started bool
	err     error // what NextPart returns from now on (io.EOF once closed)
}

// NewReader reads the body from br, whose buffer must be larger than the
// boundary by a good margin (a few KiB at least; STOW uses 256 KiB).
func NewReader(br *bufio.Reader, boundary string) *Reader {
	return &Reader{br: br, dash: []byte("--" + boundary), delim: []byte("\r\n--" + boundary)}
}

// Part is one part: its header and a reader of its body.
type Part struct {
	Header textproto.MIMEHeader
	r      *Reader
	n      int64 // body bytes read
	eof    bool
}

// NextPart skips what is left of the current part and returns the next
// one, or io.EOF after the closing delimiter. A body that ends before the
// closing delimiter gives io.ErrUnexpectedEOF. Errors are final.
func (r *Reader) NextPart() (*Part, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.nextPart()
	r.err = err
	return p, err
}

func (r *Reader) nextPart() (*Part, error) {
	var closing bool
	if !r.started {
		var err error
		if closing, err = r.skipPreamble(); err != nil {
			return nil, err
		}
		r.started = true
	} else {
		if _, err := io.Copy(io.Discard, r.part); err != nil {
			return nil, err
		}
		if _, err := r.br.Discard(r.pending); err != nil {
			return nil, unexpected(err)
		}
		// After a delimiter: "--" closes the body; otherwise transport
		// padding and the line break end the delimiter line.
		l, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: boundary line too long", ErrFormat)
		}
		if err != nil && !(err == io.EOF && closingLine(l, true)) {
			return nil, unexpected(err)
		}
		closing = closingLine(l, err != nil)
		if !closing && !paddingLine(l) {
			return nil, fmt.Errorf("%w: unexpected %q after a boundary", ErrFormat, bytes.TrimRight(l, "\r\n"))
		}
	}
	if closing {
		return nil, io.EOF
	}
	h, err := r.header()
	if err != nil {
		return nil, err
	}
	r.part = &Part{Header: h, r: r}
	return r.part, nil
}

// skipPreamble reads lines up to and including the first delimiter line,
// and reports whether it was the closing one. Its line break tells which
// line break the body uses.
func (r *Reader) skipPreamble() (closing bool, err error) {
	read := 0
	for {
		l, err := r.br.ReadSlice('\n')
		read += len(l)
		if read > maxPreamble || errors.Is(err, bufio.ErrBufferFull) {
			return false, fmt.Errorf("%w: no boundary in the first %d bytes", ErrFormat, maxPreamble)
		}
		if rest, ok := bytes.CutPrefix(l, r.dash); ok {
			if closingLine(rest, err != nil) {
				return true, nil
			}
			if err == nil && paddingLine(rest) {
				if !bytes.HasSuffix(rest, []byte("\r\n")) {
					r.delim = append([]byte("\n"), r.dash...)
				}
				return false, nil
			}
		}
		if err != nil {
			return false, unexpected(err)
		}
	}
}

// closingLine reports whether what follows a boundary closes the body:
// "--", transport padding, and a line break or the end of the body.
func closingLine(l []byte, atEOF bool) bool {
	rest, ok := bytes.CutPrefix(l, []byte("--"))
	if !ok {
		return false
	}
	if atEOF {
		return len(bytes.Trim(rest, " \t")) == 0
	}
	return paddingLine(rest)
}

// paddingLine reports whether l is transport padding (spaces and tabs)
// and a line break.
func paddingLine(l []byte) bool {
	l, ok := bytes.CutSuffix(l, []byte("\n"))
	if !ok {
		return false
	}
	l = bytes.TrimSuffix(l, []byte("\r"))
	return len(bytes.Trim(l, " \t")) == 0
}

// header reads a part's header lines up to the empty line.
func (r *Reader) header() (textproto.MIMEHeader, error) {
	h := textproto.MIMEHeader{}
	var key string
	size := 0
	for n := 0; ; n++ {
		l, err := r.br.ReadSlice('\n')
		size += len(l)
		if n > maxHeaderLines || size > maxHeaderBytes || errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: part header larger than %d bytes or %d lines", ErrFormat, maxHeaderBytes, maxHeaderLines)
		}
		if err != nil {
			return nil, unexpected(err)
		}
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			return h, nil
		}
		if (l[0] == ' ' || l[0] == '\t') && key != "" {
			// An obsolete folded line continues the previous value.
			vs := h[key]
			vs[len(vs)-1] += " " + string(bytes.TrimSpace(l))
			continue
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: malformed part header line %q", ErrFormat, l)
		}
		key = textproto.CanonicalMIMEHeaderKey(string(name))
		h[key] = append(h[key], string(bytes.TrimSpace(value)))
	}
}

// Read reads the part's body, up to the delimiter that ends it.
func (p *Part) Read(b []byte) (int, error) {
	if p.eof {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	r := p.r
	need := len(r.delim) + 2 // the delimiter and what tells it from body bytes
	for {
		buf, err := r.br.Peek(r.br.Buffered())
		if p.n == 0 && len(buf) >= len(r.dash)+2 && bytes.HasPrefix(buf, r.dash) && isDelimiterEnd(buf[len(r.dash):len(r.dash)+2]) {
			// An empty body whose header's blank line doubles as the
			// delimiter's line break.
			return p.end(len(r.dash))
		}
		// Search only what this read could return, plus a delimiter.
		window := buf[:min(len(buf), len(b)+need)]
		if i := bytes.Index(window, r.delim); i >= 0 {
			if i > 0 {
				return p.take(b, window[:i])
			}
			if len(buf) >= need {
				if isDelimiterEnd(buf[len(r.delim):need]) {
					return p.end(len(r.delim))
				}
				// "--boundary" followed by other text is body data.
				return p.take(b, buf[:1])
			}
		} else if safe := len(window) - need; safe > 0 {
			return p.take(b, window[:safe])
		}
		// Too little buffered to decide: read more.
		if err == nil {
			_, err = r.br.Peek(len(buf) + 1)
		}
		if err != nil {
			if err == io.EOF && len(buf) < need && bytes.HasPrefix(buf, r.delim) && isDelimiterEnd(buf[len(r.delim):]) {
				// A delimiter at the very end: NextPart tells whether the
				// body was closed.
				return p.end(len(r.delim))
			}
			return 0, unexpected(err)
		}
	}
}

// take copies body bytes from the buffer into b and consumes them.
func (p *Part) take(b, body []byte) (int, error) {
	n := copy(b, body)
	p.r.br.Discard(n)
	p.n += int64(n)
	return n, nil
}

// end marks the body finished at a delimiter of length delim.
func (p *Part) end(delim int) (int, error) {
	p.eof = true
	p.r.pending = delim
	return 0, io.EOF
}

// isDelimiterEnd reports whether b (up to two bytes after "--boundary")
// can follow a delimiter: "--", transport padding or a line break.
func isDelimiterEnd(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	switch b[0] {
	case '-':
		return len(b) < 2 || b[1] == '-'
	case ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
