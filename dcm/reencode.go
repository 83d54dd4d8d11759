package dcm

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrNotReencodable is wrapped by Reencode for a pair of transfer syntaxes
// it does not convert between (compressed pixel data, big endian).
var ErrNotReencodable = errors.New("transfer syntaxes not convertible by re-encoding")

// maxReencodeDepth bounds sequence nesting, as the scanner does.
const maxReencodeDepth = 64

// CanReencode reports whether Reencode converts data sets from one
// transfer syntax to the other: between the little endian native syntaxes
// (Implicit VR, Explicit VR and, as a source, Deflated Explicit VR).
func CanReencode(from, to string) bool {
	switch to {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian:
	default:
		return false
	}
	return from == ImplicitVRLittleEndian || from == ExplicitVRLittleEndian || from == DeflatedExplicitVRLE
}

// Reencode copies a data set (no file meta information) from one native
// little endian transfer syntax to another, streaming: values keep their
// bytes, element headers change. Implicit VR takes its VRs from the data
// dictionary (private and unknown tags are UN, US/SS by
// PixelRepresentation, OB/OW as OW); a value too long for its VR's 16-bit
// length becomes UN. Sequences and items are written with undefined
// lengths (their defined lengths would change with the headers), as
// dcmconv -e writes them.
func Reencode(w io.Writer, r io.Reader, from, to string) error {
	if !CanReencode(from, to) {
		return fmt.Errorf("%w: %s to %s", ErrNotReencodable, from, to)
	}
	if from == DeflatedExplicitVRLE {
		fr := flate.NewReader(r)
		defer fr.Close()
		r, from = fr, ExplicitVRLittleEndian
	}
	e := &reencoder{r: bufio.NewReaderSize(r, 64<<10), w: bufio.NewWriterSize(w, 64<<10),
		fromImplicit: from == ImplicitVRLittleEndian, toImplicit: to == ImplicitVRLittleEndian}
	if err := e.dataSet(-1, 0); err != nil {
		return err
	}
	return e.w.Flush()
}

type reencoder struct {
	r                        *bufio.Reader
	w                        *bufio.Writer
	pos                      int64
	fromImplicit, toImplicit bool
	signed                   bool // PixelRepresentation 1
	hdr                      [12]byte
}

func (e *reencoder) read(n int) ([]byte, error) {
	b := e.hdr[:n]
	if _, err := io.ReadFull(e.r, b); err != nil {
		return nil, err
	}
	e.pos += int64(n)
	return b, nil
}

// header reads an element header in the source syntax; implicit is the
// syntax of the element's contents (an explicit UN of undefined length
// holds implicit VR data, PS3.5 6.2.2).
func (e *reencoder) header(implicit bool) (tag uint32, vr string, n uint32, err error) {
	b, err := e.read(8)
	if err != nil {
		return 0, "", 0, err
	}
	tag = uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
	if tag>>16 == 0xFFFE || implicit {
		return tag, "", binary.LittleEndian.Uint32(b[4:]), nil
	}
	vr = string(b[4:6])
	if longVR(vr) {
		b, err := e.read(4)
		if err != nil {
			return 0, "", 0, unexpected(err)
		}
		return tag, vr, binary.LittleEndian.Uint32(b), nil
	}
	return tag, vr, uint32(binary.LittleEndian.Uint16(b[6:])), nil
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// dictVR is the VR an implicit VR element takes in explicit VR.
func (e *reencoder) dictVR(tag uint32, n uint32) string {
	switch {
	case tag&0xFFFF == 0:
		return "UL" // group length
	case tag>>16&1 == 1 && tag&0xFFFF >= 0x10 && tag&0xFFFF <= 0xFF:
		return "LO" // private creator
	case tag>>16&1 == 1:
		return "UN"
	case n == undefinedLength:
		return "SQ"
	}
	info, ok := lookupTag(fmt.Sprintf("%08X", tag))
	if !ok || len(info.VRs) == 0 {
		return "UN"
	}
	switch {
	case slices.Contains(info.VRs, "US") && slices.Contains(info.VRs, "SS"):
		if e.signed {
			return "SS"
		}
		return "US"
	case slices.Contains(info.VRs, "OW"):
		return "OW"
	}
	return info.VRs[0]
}

func (e *reencoder) writeHeader(tag uint32, vr string, n uint32) {
	b := binary.LittleEndian.AppendUint16(e.hdr[:0], uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	switch {
	case e.toImplicit || tag>>16 == 0xFFFE:
		b = binary.LittleEndian.AppendUint32(b, n)
	case longVR(vr):
		b = append(b, vr[0], vr[1], 0, 0)
		b = binary.LittleEndian.AppendUint32(b, n)
	default:
		b = append(b, vr[0], vr[1])
		b = binary.LittleEndian.AppendUint16(b, uint16(n))
	}
	e.w.Write(b)
}

// dataSet copies elements until the data set's end: length bytes, the
// item delimiter (length -1 inside an item) or the end of the input (at
// the top, depth 0).
func (e *reencoder) dataSet(length int64, depth int) error {
	start := e.pos
	for length < 0 || e.pos-start < length {
		tag, vr, n, err := e.header(e.fromImplicit)
		if err != nil {
			if depth == 0 && length < 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("re-encode: %w", unexpected(err))
		}
		switch tag {
		case tagItemDelimitation:
			if length >= 0 || depth == 0 {
				return fmt.Errorf("re-encode: item delimiter outside an item of undefined length")
			}
			e.writeHeader(tagItemDelimitation, "", 0)
			return nil
		case tagItem, tagSequenceDelimitation:
			return fmt.Errorf("re-encode: item tag %08X outside a sequence", tag)
		}
		if e.fromImplicit {
			vr = e.dictVR(tag, n)
		}
		implicitContents := e.fromImplicit
		if vr == "UN" && n == undefinedLength {
			vr, implicitContents = "SQ", true
		}
		if vr == "SQ" {
			if depth >= maxReencodeDepth {
				return fmt.Errorf("re-encode: sequences nested deeper than %d", maxReencodeDepth)
			}
			e.writeHeader(tag, "SQ", undefinedLength)
			saved := e.fromImplicit
			e.fromImplicit = implicitContents
			err := e.sequence(n, depth+1)
			e.fromImplicit = saved
			if err != nil {
				return err
			}
			continue
		}
		if n == undefinedLength {
			return fmt.Errorf("re-encode: element %08X (%s) has undefined length in a native transfer syntax", tag, vr)
		}
		if tag&0xFFFF == 0 {
			// Group lengths would be wrong once headers change; they
			// are retired (PS3.5 7.2), so they are left out.
			if _, err := e.r.Discard(int(n)); err != nil {
				return fmt.Errorf("re-encode: %w", unexpected(err))
			}
			e.pos += int64(n)
			continue
		}
		if !e.toImplicit && !longVR(vr) && n > 0xFFFF {
			vr = "UN"
		}
		e.writeHeader(tag, vr, n)
		if tag == 0x00280103 && depth == 0 && n == 2 {
			b, err := e.read(2)
			if err != nil {
				return fmt.Errorf("re-encode: %w", unexpected(err))
			}
			e.signed = binary.LittleEndian.Uint16(b) == 1
			e.w.Write(b)
			continue
		}
		if _, err := io.CopyN(e.w, e.r, int64(n)); err != nil {
			return fmt.Errorf("re-encode element %08X: %w", tag, unexpected(err))
		}
		e.pos += int64(n)
	}
	if e.pos-start != length {
		return fmt.Errorf("re-encode: an element runs past the end of its item")
	}
	return nil
}

// sequence copies the items of a sequence of length n (undefined: up to
// the sequence delimiter), each written with undefined length.
func (e *reencoder) sequence(n uint32, depth int) error {
	start := e.pos
	for n == undefinedLength || e.pos-start < int64(n) {
		tag, _, l, err := e.header(true)
		if err != nil {
			return fmt.Errorf("re-encode sequence: %w", unexpected(err))
		}
		switch tag {
		case tagSequenceDelimitation:
			if n != undefinedLength {
				return errors.New("re-encode: sequence delimiter in a sequence of defined length")
			}
			e.writeHeader(tagSequenceDelimitation, "", 0)
			return nil
		case tagItem:
		default:
			return fmt.Errorf("re-encode: element %08X where a sequence item was expected", tag)
		}
		e.writeHeader(tagItem, "", undefinedLength)
		if l == undefinedLength {
			if err := e.dataSet(-1, depth); err != nil {
				return err
			}
			continue
		}
		if err := e.dataSet(int64(l), depth); err != nil {
			return err
		}
		e.writeHeader(tagItemDelimitation, "", 0)
	}
	if e.pos-start != int64(n) {
		return errors.New("re-encode: an item runs past the end of its sequence")
	}
	e.writeHeader(tagSequenceDelimitation, "", 0)
	return nil
}

// SkipFileMeta reads the 128-byte preamble, "DICM" and the group 0002
// file meta information of a Part 10 file from r, leaving r at the first
// byte of the data set, and returns the file's transfer syntax.
func SkipFileMeta(r *bufio.Reader) (string, error) {
	if _, err := r.Discard(preambleSize); err != nil {
		return "", invalidf("file too short for the preamble")
	}
	ts := ""
	for {
		b, err := r.Peek(8)
		if err != nil || b[0] != 2 || b[1] != 0 {
			break
		}
		tag := binary.LittleEndian.Uint16(b[2:])
		vr := string(b[4:6])
		hdr, n := 8, int(binary.LittleEndian.Uint16(b[6:]))
		if longVR(vr) {
			if b, err = r.Peek(12); err != nil {
				return "", invalidf("file ends inside the file meta information")
			}
			hdr, n = 12, int(binary.LittleEndian.Uint32(b[8:]))
		}
		if n < 0 || n > 1<<20 {
			return "", invalidf("file meta element (0002,%04X) declares %d bytes", tag, n)
		}
		if _, err := r.Discard(hdr); err != nil {
			return "", invalidf("file ends inside the file meta information")
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(r, v); err != nil {
			return "", invalidf("file ends inside the file meta information")
		}
		if tag == 0x0010 {
			ts = strings.TrimRight(string(v), " \x00")
		}
	}
	if ts == "" {
		return "", invalidf("file meta information has no TransferSyntaxUID (0002,0010)")
	}
	return ts, nil
}
