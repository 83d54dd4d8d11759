package dcm

import (
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// errShort reports that the data set stream ended before a read or skip
// was complete.
var errShort = errors.New("data set ends early")

// source reads the data set stream sequentially and knows its position.
// Positions are file offsets, or, for a deflated data set, offsets into the
// inflated stream. It can record what it reads (for small values whose
// structure it walks, such as undefined-length UN elements).
type source struct {
	br *bufio.Reader
	// sec is the stored data set for seeking skips; nil when inflating.
	sec  *io.SectionReader
	base int64 // position where sec starts
	pos  int64
	// end is the position the stream cannot go past: the file size, or
	// the inflated-size limit.
	end      int64
	deflated bool

	recording bool
	rec       []byte
	recMax    int
	recOver   bool

	scratch [16]byte
	// pooled is what release gives back.
	pooled []*bufio.Reader
	fr     io.ReadCloser
}

// Buffers and inflaters are reused across files: a header read is short,
// and a fresh 32 KiB buffer (or inflater state) per file is most of what
// it would allocate.
var (
	bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}
	inflaters  sync.Pool
)

func (s *source) buffered(r io.Reader) *bufio.Reader {
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(r)
	s.pooled = append(s.pooled, br)
	return br
}

// release returns the source's buffers for reuse; the source is not
// used afterwards.
func (s *source) release() {
	for _, br := range s.pooled {
		br.Reset(nil)
		bufReaders.Put(br)
	}
	s.pooled, s.br = nil, nil
	if s.fr != nil {
		inflaters.Put(s.fr)
		s.fr = nil
	}
}

// newFileSource reads the stored data set that starts at offset start.
func newFileSource(r io.ReaderAt, start, size int64) *source {
	sec := io.NewSectionReader(r, start, size-start)
	s := &source{sec: sec, base: start, pos: start, end: size}
	s.br = s.buffered(sec)
	return s
}

// newDeflateSource inflates the data set that starts at offset start.
func newDeflateSource(r io.ReaderAt, start, size, maxInflated int64) *source {
	s := &source{end: maxInflated, deflated: true}
	in := s.buffered(io.NewSectionReader(r, start, size-start))
	if fr, ok := inflaters.Get().(io.ReadCloser); ok {
		if fr.(flate.Resetter).Reset(in, nil) == nil {
			s.fr = fr
		}
	}
	if s.fr == nil {
		s.fr = flate.NewReader(in)
	}
	s.br = s.buffered(s.fr)
	return s
}

// remaining is how many bytes may still follow: exact for a stored file,
// an upper bound for an inflated one.
func (s *source) remaining() int64 { return s.end - s.pos }

// atEOF reports whether the stream has no more bytes.
func (s *source) atEOF() (bool, error) {
	if s.pos >= s.end {
		if !s.deflated {
			return true, nil
		}
		// Inflated stream at its limit: it must end here.
		if _, err := s.br.Peek(1); err == io.EOF {
			return true, nil
		}
		return false, fmt.Errorf("inflated data set is larger than %d bytes", s.end)
	}
	_, err := s.br.Peek(1)
	switch {
	case err == nil:
		return false, nil
	case err == io.EOF:
		return true, nil
	default:
		return false, s.streamErr(err)
	}
}

// peek returns the next n bytes without consuming them.
func (s *source) peek(n int) ([]byte, error) {
	if int64(n) > s.remaining() {
		return nil, errShort
	}
	b, err := s.br.Peek(n)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errShort
		}
		return nil, s.streamErr(err)
	}
	return b, nil
}

// read returns the next n bytes (n <= 16) in a buffer valid until the
// next call.
func (s *source) read(n int) ([]byte, error) {
	b := s.scratch[:n]
	if err := s.readFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// readFull fills b from the stream.
func (s *source) readFull(b []byte) error {
	if int64(len(b)) > s.remaining() {
		return errShort
	}
	n, err := io.ReadFull(s.br, b)
	s.pos += int64(n)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errShort
		}
		return s.streamErr(err)
	}
	s.record(b)
	return nil
}

// skip advances the stream by n bytes.
func (s *source) skip(n int64) error {
	if n < 0 || n > s.remaining() {
		return errShort
	}
	if s.recording && !s.recOver {
		// Read what still fits in the recording; discard the rest.
		take := min(n, int64(s.recMax-len(s.rec)+1))
		buf := make([]byte, take)
		if err := s.readFull(buf); err != nil {
			return err
		}
		n -= take
	}
	if n == 0 {
		return nil
	}
	if s.sec != nil && n > int64(s.br.Buffered()) {
		if _, err := s.sec.Seek(s.pos+n-s.base, io.SeekStart); err != nil {
			return fmt.Errorf("seeking in data set: %w", err)
		}
		s.br.Reset(s.sec)
		s.pos += n
		return nil
	}
	for n > 0 {
		d, err := s.br.Discard(int(min(n, 1<<30)))
		s.pos += int64(d)
		n -= int64(d)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return errShort
			}
			return s.streamErr(err)
		}
	}
	return nil
}

// streamErr turns an inflate error into an *InvalidError; other errors
// (from the underlying io.ReaderAt) pass through.
func (s *source) streamErr(err error) error {
	var ce flate.CorruptInputError
	if s.deflated && (errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return invalidf("deflated data set is corrupt: %v", err)
	}
	return fmt.Errorf("reading data set: %w", err)
}

// startRecording makes the stream keep up to max bytes of what it reads
// from now on.
func (s *source) startRecording(max int) {
	s.recording, s.rec, s.recMax, s.recOver = true, nil, max, max < 0
}

// stopRecording ends the recording and returns its bytes, or ok=false when
// more than max bytes went by.
func (s *source) stopRecording() (b []byte, ok bool) {
	s.recording = false
	if s.recOver {
		return nil, false
	}
	return s.rec, true
}

func (s *source) record(b []byte) {
	if !s.recording || s.recOver {
		return
	}
	if len(s.rec)+len(b) > s.recMax {
		s.recOver, s.rec = true, nil
		return
	}
	s.rec = append(s.rec, b...)
}
