package dimse

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds a data set while it arrives: in memory up to a bound, then
// in a temporary file, so memory stays bounded whatever the peer sends.
type spool struct {
	dir    string
	memMax int
	mem    []byte
	f      *os.File
	n      int64
}

func newSpool(dir string, memMax int) *spool { return &spool{dir: dir, memMax: memMax} }

func (s *spool) size() int64 { return s.n }

func (s *spool) write(b []byte) error {
	s.n += int64(len(b))
	if s.f == nil && len(s.mem)+len(b) <= s.memMax {
		s.mem = append(s.mem, b...)
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "dimse-*.spool")
		if err != nil {
			return fmt.Errorf("create spool file: %w", err)
		}
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return fmt.Errorf("write spool file: %w", err)
		}
		s.mem = nil
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("write spool file: %w", err)
	}
	return nil
}

// reader reads the spooled data set from its start.
func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind spool file: %w", err)
	}
	return s.f, nil
}

// close removes the spool file, if any.
func (s *spool) close() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
	s.mem = nil
}
