package archive

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Instance is an index row as seen by callers of the archive.
type Instance = index.Instance

// Instances lists the instances of a study, a series or one instance.
func (s *Service) Instances(ctx context.Context, study, series, sop string) ([]*Instance, error) {
	if err := s.checkStudy(ctx, study); err != nil {
		return nil, err
	}
	if sop != "" {
		in, err := s.db.Instance(study, series, sop)
		if err != nil {
			return nil, mapIndexErr(err)
		}
		return []*Instance{in}, nil
	}
	ins, err := s.db.Instances(study, series)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(ins) == 0 {
		what := "study " + study
		if series != "" {
			what = "series " + series
		}
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return ins, nil
}

// InstanceBySOP finds an instance by its SOP Instance UID alone (WADO-URI
// names all three UIDs, but a mismatch must be a 404, not a wrong file).
func (s *Service) InstanceBySOP(ctx context.Context, sop string) (*Instance, error) {
	in, err := s.db.InstanceBySOP(sop)
	if err == nil {
		err = s.checkStudy(ctx, in.Study)
	}
	if errors.Is(err, index.ErrNotFound) || errors.Is(err, errStudyNotFound) {
		// One answer for missing and hidden, and it names no study.
		return nil, fmt.Errorf("instance %w: it does not exist or is not visible to you", ErrNotFound)
	}
	if err != nil {
		return nil, mapIndexErr(err)
	}
	return in, nil
}

// Open opens the stored bytes of an instance. It fails before anything is
// read when the object is missing, so callers can still answer 404.
func (s *Service) Open(ctx context.Context, in *Instance) (io.ReadCloser, error) {
	rc, err := s.store.Get(ctx, in.Key, 0, -1)
	if err != nil {
		return nil, mapStoreErr(fmt.Errorf("open %s: %w", in.SOP, err))
	}
	return rc, nil
}

// Frame is one frame's bytes, ready to copy.
type Frame struct {
	Number int
	Length int64
	// TransferSyntax of the bytes: Explicit VR Little Endian for native
	// pixel data, the stored syntax for encapsulated data.
	TransferSyntax string
	open           func(ctx context.Context) (io.ReadCloser, error)
}

// Open returns the frame's bytes.
func (f *Frame) Open(ctx context.Context) (io.ReadCloser, error) { return f.open(ctx) }

// FrameSyntax is the transfer syntax frames of an instance are served in.
func FrameSyntax(in *Instance) string {
	if in.Frames.Encapsulated {
		return in.TransferSyntax
	}
	return dcm.ExplicitVRLittleEndian
}

// Frames resolves 1-based frame numbers of an instance to readers that do
// range reads of the stored object, using the frame table recorded at
// ingest. A number out of range, a list longer than the frame count or
// one naming a frame twice is an *InvalidError (400) that says which.
func (s *Service) Frames(ctx context.Context, in *Instance, numbers []int) ([]*Frame, error) {
	n := len(in.Frames.Frames)
	if n == 0 {
		return nil, fmt.Errorf("instance %s has no pixel data: %w", in.SOP, ErrNotFound)
	}
	// A video is one stream: its frames are numbered by NumberOfFrames and
	// any of them is the whole stream, once (PS3.18 8.7.3.5.2).
	video := dcm.IsVideo(in.TransferSyntax) && in.Frames.Encapsulated
	if video {
		if n, _ = in.Attrs.Int("00280008"); n < 1 {
			n = 1
		}
	}
	// A frame is named once at most: a list of repeats would make an
	// answer of any size out of one frame.
	if len(numbers) > n {
		return nil, invalid("frames", "the list names %d frames and the instance has %d: name each frame once at most", len(numbers), n)
	}
	seen := make(map[int]bool, len(numbers))
	out := make([]*Frame, 0, len(numbers))
	for _, num := range numbers {
		if num < 1 || num > n {
			// PS3.18 names 400 for a frame number beyond the instance's
			// frames (8.2.7, 9.5.2); the frame list follows it.
			return nil, invalid("frames", "frame %d does not exist: the instance has %d frame(s)", num, n)
		}
		if seen[num] {
			return nil, invalid("frames", "frame %d is named more than once: name each frame once at most", num)
		}
		seen[num] = true
		if video {
			continue
		}
		ranges := in.Frames.Frames[num-1]
		var length int64
		for _, r := range ranges {
			length += r.Length
		}
		// Native frames are served as Explicit VR Little Endian: words
		// stored big endian are swapped on the way.
		word := 0
		if in.TransferSyntax == dcm.ExplicitVRBigEndian && !in.Frames.Encapsulated {
			if bits, _ := in.Attrs.Int(tagBitsAllocated); bits == 16 || bits == 32 {
				word = bits / 8
			}
		}
		out = append(out, &Frame{
			Number: num, Length: length, TransferSyntax: FrameSyntax(in),
			open: func(ctx context.Context) (io.ReadCloser, error) {
				rc, err := s.readRanges(ctx, in, ranges)
				if err != nil || word == 0 {
					return rc, err
				}
				return &swapReader{rc: rc, word: word}, nil
			},
		})
	}
	if video {
		return []*Frame{s.videoStream(in)}, nil
	}
	return out, nil
}

// videoStream is the whole stream of a video instance, as frame 1.
func (s *Service) videoStream(in *Instance) *Frame {
	ranges := in.Frames.Frames[0]
	var length int64
	for _, r := range ranges {
		length += r.Length
	}
	return &Frame{Number: 1, Length: length, TransferSyntax: in.TransferSyntax,
		open: func(ctx context.Context) (io.ReadCloser, error) { return s.readRanges(ctx, in, ranges) }}
}

// swapReader reverses the bytes of each word of word bytes (2 or 4) read
// through it; frame lengths are whole words.
type swapReader struct {
	rc      io.ReadCloser
	word    int
	pending []byte // bytes of an incomplete word kept for the next Read
}

func (r *swapReader) Read(p []byte) (int, error) {
	if len(p) < r.word {
		return 0, io.ErrShortBuffer
	}
	n := copy(p, r.pending)
	r.pending = r.pending[:0]
	m, err := r.rc.Read(p[n : len(p)-len(p)%r.word])
	n += m
	whole := n - n%r.word
	for i := 0; i < whole; i += r.word {
		for a, b := i, i+r.word-1; a < b; a, b = a+1, b-1 {
			p[a], p[b] = p[b], p[a]
		}
	}
	r.pending = append(r.pending, p[whole:n]...)
	if err == io.EOF && len(r.pending) > 0 {
		return whole, io.ErrUnexpectedEOF
	}
	return whole, err
}

func (r *swapReader) Close() error { return r.rc.Close() }

// Bulk returns a reader over one bulk value of an instance.
func (s *Service) Bulk(ctx context.Context, in *Instance, path string) (io.ReadCloser, int64, error) {
	for _, b := range in.Bulk {
		if b.Path == path {
			rc, err := s.readRanges(ctx, in, []dcm.Range{b.Range})
			return rc, b.Range.Length, err
		}
	}
	return nil, 0, fmt.Errorf("bulk data %s of %s: %w", path, in.SOP, ErrNotFound)
}

// readRanges reads ranges of the stored object, one range read each; for
// deflated files it inflates the data set stream up to the ranges (such
// files are small: deflate is used for structured reports and the like).
func (s *Service) readRanges(ctx context.Context, in *Instance, ranges []dcm.Range) (io.ReadCloser, error) {
	if in.Frames.Deflated {
		rc, err := s.store.Get(ctx, in.Key, in.Frames.DeflateStart, -1)
		if err != nil {
			return nil, mapStoreErr(fmt.Errorf("open %s: %w", in.SOP, err))
		}
		defer rc.Close()
		var buf bytes.Buffer
		zr := flate.NewReader(rc)
		var pos int64
		for _, r := range ranges {
			if _, err := io.CopyN(io.Discard, zr, r.Offset-pos); err != nil {
				return nil, fmt.Errorf("inflate %s: %w", in.SOP, err)
			}
			if _, err := io.CopyN(&buf, zr, r.Length); err != nil {
				return nil, fmt.Errorf("inflate %s: %w", in.SOP, err)
			}
			pos = r.Offset + r.Length
		}
		return io.NopCloser(&buf), nil
	}
	if len(ranges) == 1 {
		rc, err := s.store.Get(ctx, in.Key, ranges[0].Offset, ranges[0].Length)
		if err != nil {
			return nil, mapStoreErr(fmt.Errorf("read %s: %w", in.SOP, err))
		}
		return rc, nil
	}
	readers := make([]io.Reader, 0, len(ranges))
	closers := make([]io.Closer, 0, len(ranges))
	for _, r := range ranges {
		rc, err := s.store.Get(ctx, in.Key, r.Offset, r.Length)
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
			return nil, mapStoreErr(fmt.Errorf("read %s: %w", in.SOP, err))
		}
		readers = append(readers, rc)
		closers = append(closers, rc)
	}
	return &multiCloser{Reader: io.MultiReader(readers...), closers: closers}, nil
}

type multiCloser struct {
	io.Reader
	closers []io.Closer
}

func (m *multiCloser) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MetadataVersion identifies the current metadata of a study, series or
// instance, for ETags.
func (s *Service) MetadataVersion(ctx context.Context, study, series, sop string) (uint64, error) {
	st, err := s.visibleStudy(ctx, study)
	if err != nil {
		return 0, err
	}
	switch {
	case sop != "":
		in, err := s.db.Instance(study, series, sop)
		if err != nil {
			return 0, mapIndexErr(err)
		}
		return in.Seq, nil
	case series != "":
		se, err := s.db.OneSeries(study, series)
		if err != nil {
			return 0, mapIndexErr(err)
		}
		return se.Version, nil
	default:
		return st.Version, nil
	}
}

// WriteMetadata writes the DICOM JSON array of the instances of a study,
// series or instance, precomputed at ingest, with base (the service root
// the client used) in place of BasePlaceholder. It never reads objects.
func (s *Service) WriteMetadata(ctx context.Context, w io.Writer, study, series, sop, base string) error {
	st, err := s.visibleStudy(ctx, study)
	if err != nil {
		return err
	}
	var extra []byte
	ann := dcm.Dataset{}
	if s.annotate(ctx, st, ann); len(ann) > 0 {
		b, err := ann.AppendJSON(nil)
		if err != nil {
			return fmt.Errorf("encode annotation: %w", err)
		}
		// Spliced after each instance's opening brace: {"0011...":...,
		extra = append(b[1:len(b)-1:len(b)-1], ',')
	}
	// w is buffered by the caller: this writes many small pieces.
	first := true
	ph := []byte(BasePlaceholder)
	err = s.db.Metadata(study, series, sop, func(js []byte) error {
		sep := ","
		if first {
			sep = "["
			first = false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		js = bytes.TrimRight(js, "\n")
		if extra != nil && len(js) > 2 && js[0] == '{' {
			if _, err := w.Write(js[:1]); err != nil {
				return err
			}
			if _, err := w.Write(extra); err != nil {
				return err
			}
			js = js[1:]
		}
		// The base replaces each placeholder as the pieces are written.
		for {
			i := bytes.Index(js, ph)
			if i < 0 {
				break
			}
			if _, err := w.Write(js[:i]); err != nil {
				return err
			}
			if _, err := io.WriteString(w, base); err != nil {
				return err
			}
			js = js[i+len(ph):]
		}
		_, err := w.Write(js)
		return err
	})
	if err != nil {
		if first {
			return mapIndexErr(err)
		}
		return err
	}
	if first {
		_, err = io.WriteString(w, "[")
	}
	if err == nil {
		_, err = io.WriteString(w, "]")
	}
	return err
}

// ValidBulkPath reports whether p looks like a bulk data path
// ("7FE00010", "00540016/0/00181072").
func ValidBulkPath(p string) bool {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if i%2 == 0 {
			if len(part) != 8 || strings.Trim(part, "0123456789ABCDEFabcdef") != "" {
				return false
			}
		} else if _, err := strconv.Atoi(part); err != nil {
			return false
		}
	}
	return len(parts)%2 == 1
}
