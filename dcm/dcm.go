// Package dcm reads what the gateway needs from a DICOM Part 10 file: the
// identifying UIDs, the data set as DICOM JSON (PS3.18 F.2) with bulk values
// replaced by references, and where each frame and bulk value lives in the
// file so that WADO-RS can answer with range reads. It parses each file
// once with its own bounded scanner; github.com/suyashkumar/dicom supplies
// the data dictionary (VRs of implicit VR files, keywords).
package dcm

import "fmt"

// Transfer syntaxes the gateway names explicitly.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
)

// Element is one attribute in the DICOM JSON model. Value holds strings,
// float64 numbers, PersonName values or nested Datasets (for SQ), exactly as
// they appear in DICOM JSON after encoding/json.
type Element struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
	// BulkDataURI holds, as produced by ReadHeader, the element's path
	// (see BulkRef.Path); the caller rewrites it into a full URI.
	BulkDataURI string `json:"BulkDataURI,omitempty"`
}

// Dataset maps 8-digit upper-case hex tags ("0020000D") to elements.
// encoding/json sorts map keys, which gives the ascending tag order PS3.18
// asks for.
type Dataset map[string]*Element

// PersonName is a PN value in the DICOM JSON model.
type PersonName struct {
	Alphabetic  string `json:"Alphabetic,omitempty"`
	Ideographic string `json:"Ideographic,omitempty"`
	Phonetic    string `json:"Phonetic,omitempty"`
}

// Range is a byte range.
type Range struct {
	Offset int64 `json:"o"`
	Length int64 `json:"l"`
}

// FrameTable says where each frame's bytes are. Frame i (0-based) is the
// concatenation of the ranges Frames[i]. Offsets are into the stored file,
// or, when Deflated is true, into the inflated data set stream that starts
// at DeflateStart in the file.
//
// Native frames are stored bytes as they are (big endian words for the
// Explicit VR Big Endian syntax). Bit-packed frames (BitsAllocated 1) that
// do not start on byte boundaries get a single range covering all frames.
// Encapsulated frames are their fragments' values, without item headers.
type FrameTable struct {
	// Encapsulated is true for compressed pixel data (frames are fragments).
	Encapsulated bool `json:"enc,omitempty"`
	// Deflated is true for the Deflated Explicit VR Little Endian syntax.
	Deflated     bool      `json:"defl,omitempty"`
	DeflateStart int64     `json:"dstart,omitempty"`
	Frames       [][]Range `json:"f,omitempty"`
}

// BulkRef locates one bulk value that was left out of the metadata.
type BulkRef struct {
	// Path is the element's tag path: "7FE00010" at top level,
	// "00540016/0/00181072" inside item 0 of a sequence.
	Path  string `json:"p"`
	Range Range  `json:"r"`
}

// Header is everything ingest learns from one file.
type Header struct {
	StudyUID, SeriesUID, SOPUID, SOPClassUID string
	TransferSyntax                           string
	// Dataset is the main data set (not the group 0002 file meta), with
	// bulk values (binary VRs longer than Limits.InlineBinaryMax, and
	// always PixelData) replaced by a BulkDataURI holding their path.
	Dataset Dataset
	Frames  FrameTable
	Bulk    []BulkRef
	// PreambleNonZero is true when the 128-byte preamble was not all zeros.
	PreambleNonZero bool
	// Decoding says how the text was read when that was not simply as the
	// file declares it; zero otherwise (see Decoding).
	Decoding Decoding
	// Warnings name, one sentence each, the values that Dataset does not
	// hold as they are in the file (which keeps them unchanged): numbers
	// repaired or left out, UN elements that could not take their
	// dictionary VR. They never quote values, so that they can be logged.
	Warnings []string
}

// Decoding is how the text of a file was turned into UTF-8, when it was
// not simply as its (0008,0005) SpecificCharacterSet declares.
type Decoding struct {
	// Charset is the defined term the text was mostly read as ("GB18030",
	// "ISO_IR 100"; "ISO_IR 192" for UTF-8).
	Charset string
	// Note says why, in a sentence: "no SpecificCharacterSet; read as
	// GB18030, the sender's default".
	Note string
}

// Limits bound what ReadHeader accepts, so that hostile files cannot
// exhaust memory or the stack. A zero field takes its default.
type Limits struct {
	// MaxDepth bounds sequence nesting; default 32, at most 256.
	MaxDepth int
	// MaxHeaderBytes bounds the bytes of non-pixel, non-bulk values held
	// in memory, counting 64 more for each element, item and bulk
	// reference (so that millions of empty elements count too); default
	// 16 MiB.
	MaxHeaderBytes int64
	// InlineBinaryMax is the largest binary value inlined as
	// InlineBinary; larger ones become bulk. Default 1024; negative:
	// never inline.
	InlineBinaryMax int
	// MaxInflatedBytes bounds the inflated data set of a Deflated transfer
	// syntax file, pixel data included; default 1 GiB.
	MaxInflatedBytes int64
	// DefaultCharset is not a bound: it is the character set the sender
	// writes text in when a file names none, or names one its bytes do not
	// fit (Chinese modalities that omit (0008,0005) and write GB18030, or
	// write GBK under ISO_IR 100). A defined term or any name
	// NormalizeCharset accepts; "" keeps the standard's reading (UTF-8
	// when valid, else Latin-1).
	DefaultCharset string
}

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxDepth         = 32
	DefaultMaxHeaderBytes   = 16 << 20
	DefaultInlineBinaryMax  = 1024
	DefaultMaxInflatedBytes = 1 << 30

	maxDepthCap = 256
)

// withDefaults returns l with zero fields replaced by their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthCap)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	switch {
	case l.InlineBinaryMax == 0:
		l.InlineBinaryMax = DefaultInlineBinaryMax
	case l.InlineBinaryMax < 0:
		l.InlineBinaryMax = -1
	}
	if l.MaxInflatedBytes <= 0 {
		l.MaxInflatedBytes = DefaultMaxInflatedBytes
	}
	return l
}

// InvalidError says why a file was refused. Reason is one line a person
// understands ("sequence nesting deeper than 32", "element (0010,0010)
// declares 4294967294 bytes but only 812 remain").
type InvalidError struct {
	Reason string
}

// Error returns the reason, prefixed with "invalid DICOM: ".
func (e *InvalidError) Error() string { return "invalid DICOM: " + e.Reason }

func invalidf(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}
