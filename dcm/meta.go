package dcm

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// preambleSize is the 128-byte preamble plus "DICM".
const preambleSize = 132

// fileMeta is what ReadHeader needs from the group 0002 file meta
// information.
type fileMeta struct {
	transferSyntax string
	sopClassUID    string // MediaStorageSOPClassUID
	end            int64  // file offset where the data set starts
	used           int64  // bytes charged against Limits.MaxHeaderBytes
}

// readPreamble checks the "DICM" prefix and reports whether the preamble
// holds anything but zeros.
func readPreamble(r io.ReaderAt, size int64) (nonZero bool, err error) {
	if size < preambleSize {
		return false, invalidf("file is %d bytes, too short for the 128-byte preamble and \"DICM\"", size)
	}
	b := make([]byte, preambleSize)
	if n, err := r.ReadAt(b, 0); n < preambleSize {
		if err == nil || errors.Is(err, io.EOF) {
			return false, invalidf("file is too short for the 128-byte preamble and \"DICM\"")
		}
		return false, fmt.Errorf("reading preamble: %w", err)
	}
	if string(b[128:]) != "DICM" {
		return false, invalidf("no \"DICM\" prefix at offset 128: not a DICOM Part 10 file")
	}
	for _, c := range b[:128] {
		if c != 0 {
			return true, nil
		}
	}
	return false, nil
}

// readFileMeta reads the group 0002 elements that follow "DICM". They are
// always explicit VR little endian.
func readFileMeta(r io.ReaderAt, size int64, lim Limits) (*fileMeta, error) {
	s := newFileSource(r, preambleSize, size)
	defer s.release()
	m := &fileMeta{}
	count := 0
	for {
		b, err := s.peek(2)
		if errors.Is(err, errShort) {
			break // end of file: the data set is empty
		}
		if err != nil {
			return nil, err
		}
		if b[0] != 2 || b[1] != 0 {
			break
		}
		h, err := readElemHeader(s, syntax{})
		if err != nil {
			if errors.Is(err, errShort) {
				return nil, invalidf("file ends inside the file meta information")
			}
			return nil, fmt.Errorf("file meta information: %w", err)
		}
		if h.vl == undefinedLength {
			return nil, invalidf("file meta element %s has undefined length", tagString(h.tag))
		}
		if rem := s.remaining(); int64(h.vl) > rem {
			return nil, invalidf("file meta element %s declares %d bytes but only %d remain", tagString(h.tag), h.vl, rem)
		}
		m.used += elementOverhead + int64(h.vl)
		if m.used > lim.MaxHeaderBytes {
			return nil, invalidf("file meta information is larger than %d bytes (Limits.MaxHeaderBytes)", lim.MaxHeaderBytes)
		}
		count++
		var dst *string
		switch h.tag {
		case tagTransferSyntaxUID:
			dst = &m.transferSyntax
		case tagMediaStorageSOPClassUID:
			dst = &m.sopClassUID
		}
		if dst == nil {
			if err := s.skip(int64(h.vl)); err != nil {
				return nil, invalidf("file ends inside file meta element %s", tagString(h.tag))
			}
			continue
		}
		v := make([]byte, h.vl)
		if err := s.readFull(v); err != nil {
			return nil, invalidf("file ends inside file meta element %s", tagString(h.tag))
		}
		*dst = strings.TrimRight(string(v), " \x00")
	}
	if count == 0 {
		return nil, invalidf("no file meta information (group 0002) after \"DICM\"")
	}
	if m.transferSyntax == "" {
		return nil, invalidf("file meta information has no TransferSyntaxUID (0002,0010)")
	}
	if !ValidUID(m.transferSyntax) {
		return nil, invalidf("TransferSyntaxUID %q is not a valid UID", clip(m.transferSyntax))
	}
	m.end = s.pos
	return m, nil
}

// tsKind is how a transfer syntax encodes the data set and pixel data.
type tsKind struct {
	sy       syntax
	deflated bool
	// pixel data must be native (false: encapsulated); unknown syntaxes
	// accept either.
	native, encapsulated bool
}

func transferSyntaxKind(uid string) tsKind {
	switch uid {
	case ImplicitVRLittleEndian:
		return tsKind{sy: implicitLE, native: true}
	case ExplicitVRLittleEndian:
		return tsKind{native: true}
	case ExplicitVRBigEndian:
		return tsKind{sy: syntax{big: true}, native: true}
	case DeflatedExplicitVRLE:
		return tsKind{deflated: true, native: true}
	case "1.2.840.10008.1.2.4.95": // JPIP Referenced Deflate
		return tsKind{deflated: true}
	case "1.2.840.10008.1.2.4.94": // JPIP Referenced
		return tsKind{}
	}
	if uid == "1.2.840.10008.1.2.5" || uid == "1.2.840.10008.1.2.1.98" { // RLE, encapsulated uncompressed
		return tsKind{encapsulated: true}
	}
	for _, p := range []string{"1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.8."} { // JPEG family, MPEG, HTJ2K; deflated frames
		if strings.HasPrefix(uid, p) {
			return tsKind{encapsulated: true}
		}
	}
	return tsKind{}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
