package archive

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/imgcloud/gateway/internal/directio"
)

// memSpoolMax is the largest part held in memory: it is then parsed,
// hashed and written in one piece. Larger parts go to a temporary file, so
// memory stays flat whatever the size of a study.
const memSpoolMax = 8 << 20

// spoolBuffers is how many spool buffers are kept for reuse: about the
// number of STOW requests expected at once.
const spoolBuffers = 8

// spooled is one STOW part with its 128-byte preamble zeroed (so no
// polyglot file is ever served back): in memory, or in a temporary file.
type spooled struct {
	mem             []byte
	buf             *[]byte // pooled backing of mem
	file            *os.File
	moved           bool // the file became the object
	size            int64
	sum             string // CRC-32C of what is stored, hex
	preambleNonZero bool
}

func (sp *spooled) readerAt() io.ReaderAt {
	if sp.file != nil {
		return sp.file
	}
	return bytes.NewReader(sp.mem)
}

// release gives back the buffer and removes the temporary file.
func (s *Service) release(sp *spooled) {
	if sp.file != nil {
		sp.file.Close()
		if !sp.moved {
			os.Remove(sp.file.Name())
		}
	}
	if sp.buf != nil {
		*sp.buf = sp.mem[:0]
		select {
		case s.bufs <- sp.buf:
		default: // enough kept; the collector takes this one
		}
	}
}

// spool reads one part, enforcing MaxInstanceBytes. The returned spooled
// (also on error, when not nil) must be released.
func (s *Service) spool(r io.Reader) (*spooled, error) {
	rr := &readErr{r: io.LimitReader(r, s.opt.MaxInstanceBytes+1)}
	sp := &spooled{}
	select {
	case sp.buf = <-s.bufs:
	default:
		sp.buf = new([]byte)
	}
	b := (*sp.buf)[:0]
	limit := int(min(memSpoolMax, s.opt.MaxInstanceBytes+1))
	var err error
	for err == nil && len(b) < limit {
		if len(b) == cap(b) {
			// Aligned, so that the store can hand large parts to the disk
			// directly (see package directio).
			nb := directio.Alloc(len(b), len(b)+min(max(cap(b), 64<<10), limit-len(b)))
			copy(nb, b)
			b = nb
		}
		var n int
		n, err = rr.Read(b[len(b):min(cap(b), limit)])
		b = b[:len(b)+n]
	}
	sp.mem = b
	if rr.err != nil {
		return sp, fmt.Errorf("%w: %w", ErrBadBody, rr.err)
	}
	k := min(len(b), 128)
	sp.preambleNonZero = slices.ContainsFunc(b[:k], func(c byte) bool { return c != 0 })
	clear(b[:k])
	if err == io.EOF {
		sp.size = int64(len(b))
		sp.sum = crcHex(crc32.Checksum(b, castagnoli))
	} else if err := s.spill(sp, rr); err != nil {
		return sp, err
	}
	if sp.size > s.opt.MaxInstanceBytes {
		return sp, &StoreError{Reason: ReasonOutOfResources, Err: fmt.Errorf("%w: instance larger than %d bytes", ErrTooLarge, s.opt.MaxInstanceBytes)}
	}
	if sp.size == 0 {
		return sp, &StoreError{Reason: ReasonCannotUnderstand, Err: invalid("", "empty part: a DICOM Part 10 file was expected")}
	}
	return sp, nil
}

// spill moves a part too large for memory to a temporary file: what was
// read so far, then the rest, checksummed on the way. The file is written
// around the page cache where the file system allows it (see package
// directio): it may become the object as it is.
func (s *Service) spill(sp *spooled, rr *readErr) error {
	f, direct, err := s.createSpoolFile()
	if err != nil {
		return fmt.Errorf("%w: spool: %w", ErrUnavailable, err)
	}
	sp.file = f
	h := crc32.New(castagnoli)
	w := directio.NewWriter(f, direct, 1<<20)
	w.Tee = h
	_, err = w.Write(sp.mem)
	if err == nil {
		_, err = w.ReadFrom(rr)
	}
	if err == nil {
		err = w.Close()
	}
	sp.mem = sp.mem[:0]
	if rr.err != nil {
		return fmt.Errorf("%w: %w", ErrBadBody, rr.err)
	}
	if err != nil {
		return fmt.Errorf("%w: spool: %w", ErrUnavailable, err)
	}
	sp.size = w.Written()
	sp.sum = crcHex(h.Sum32())
	return nil
}

// createSpoolFile creates a temporary file for a large part, opened for
// direct I/O when the file system supports it.
func (s *Service) createSpoolFile() (*os.File, bool, error) {
	for range 10 {
		name := filepath.Join(s.opt.TempDir, "stow-"+rand.Text()+".dcm")
		f, direct, err := directio.Create(name, 0o600, true)
		if !errors.Is(err, fs.ErrExist) {
			return f, direct, err
		}
	}
	return nil, false, fmt.Errorf("no free temporary file name in %s", s.opt.TempDir)
}

// castagnoli is the CRC-32C table: the checksum S3 and iSCSI use, computed
// by a CPU instruction on amd64 and arm64, so checksumming costs next to
// nothing (SHA-256 was a tenth of ingest CPU). It detects bit rot; telling
// a re-store from a conflict compares the bytes themselves.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcHex(sum uint32) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}
