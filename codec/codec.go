// Package codec is the contract between compressed pixel data and the
// parts that need pixels: a Decoder per transfer syntax turns one frame's
// compressed bytes into native pixel data, an Encoder does the reverse. The
// codecs themselves live in sub-packages (codec/jpeg in pure Go; codec/
// openjpeg and codec/charls bind Debian's libraries through cgo behind the
// `cgocodecs` build tag), and the binary's wiring builds the Set it has, so
// there is no global registry and a build without cgo says what it lacks.
package codec

import (
	"errors"
	"fmt"
	"sort"
)

// Frame is what the data set says one decoded frame is. A decoder checks
// the codestream's own header against it before it allocates, so a frame
// declaring a larger image than its attributes is refused, not decoded.
type Frame struct {
	Rows, Columns int
	// Samples is SamplesPerPixel (1 or 3).
	Samples int
	// BitsAllocated is 8 or 16; BitsStored at most BitsAllocated.
	BitsAllocated, BitsStored int
	// Signed is PixelRepresentation 1.
	Signed bool
	// Photometric is the stored PhotometricInterpretation (YBR_FULL_422,
	// YBR_ICT, YBR_RCT, RGB, MONOCHROME2, ...).
	Photometric string
}

// Size is the byte length of the frame as native pixel data.
func (f Frame) Size() int {
	return f.Rows * f.Columns * f.Samples * (f.BitsAllocated / 8)
}

// Check refuses frame descriptions no decoder should try.
func (f Frame) Check() error {
	switch {
	case f.Rows <= 0 || f.Columns <= 0 || f.Rows > 65535 || f.Columns > 65535:
		return fmt.Errorf("%w: frame of %dx%d pixels", ErrInvalid, f.Columns, f.Rows)
	case f.Samples != 1 && f.Samples != 3:
		return fmt.Errorf("%w: %d samples per pixel (1 or 3 are decoded)", ErrUnsupported, f.Samples)
	case f.BitsAllocated != 8 && f.BitsAllocated != 16:
		return fmt.Errorf("%w: %d bits allocated (8 or 16 are decoded)", ErrUnsupported, f.BitsAllocated)
	case f.BitsStored < 1 || f.BitsStored > f.BitsAllocated:
		return fmt.Errorf("%w: %d bits stored in %d allocated", ErrInvalid, f.BitsStored, f.BitsAllocated)
	}
	return nil
}

// Image is one decoded frame laid out as native pixel data holds it:
// samples interleaved (PlanarConfiguration 0), one byte per sample when
// BitsAllocated is 8, two bytes little endian when 16 (signed values in
// two's complement, sign-extended to 16 bits).
type Image struct {
	Pixels []byte
	// Photometric is what the decoded samples are: RGB after a JPEG 2000
	// component transform (YBR_ICT, YBR_RCT) or a JPEG colour decode of
	// YBR_FULL_422, otherwise the stored interpretation.
	Photometric string
}

// Decoder decodes one frame: src is all the fragments of that frame,
// concatenated. It returns an error wrapping ErrInvalid for data that does
// not decode (or decodes to another size than f), ErrUnsupported for a
// valid codestream using a feature it lacks.
type Decoder interface {
	Decode(src []byte, f Frame) (Image, error)
}

// Encoder encodes one native frame (laid out as Image.Pixels) into the
// fragment bytes of its transfer syntax.
type Encoder interface {
	Encode(pixels []byte, f Frame) ([]byte, error)
}

// Errors every codec wraps, so that callers map them to one status.
var (
	// ErrInvalid: the compressed data is corrupt, truncated, or does not
	// match the frame's attributes.
	ErrInvalid = errors.New("compressed pixel data does not decode")
	// ErrUnsupported: valid data using something this codec does not do.
	ErrUnsupported = errors.New("compressed pixel data uses an unsupported feature")
)

// Set is the codecs one build has, by transfer syntax UID.
type Set struct {
	decoders map[string]Decoder
	encoders map[string]Encoder
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{decoders: map[string]Decoder{}, encoders: map[string]Encoder{}}
}

// AddDecoder registers d for the transfer syntaxes given.
func (s *Set) AddDecoder(d Decoder, syntaxes ...string) {
	for _, ts := range syntaxes {
		s.decoders[ts] = d
	}
}

// AddEncoder registers e for one transfer syntax.
func (s *Set) AddEncoder(e Encoder, syntax string) { s.encoders[syntax] = e }

// Decoder returns the decoder for a syntax, if this build has one.
func (s *Set) Decoder(syntax string) (Decoder, bool) {
	if s == nil {
		return nil, false
	}
	d, ok := s.decoders[syntax]
	return d, ok
}

// Encoder returns the encoder for a syntax, if this build has one.
func (s *Set) Encoder(syntax string) (Encoder, bool) {
	if s == nil {
		return nil, false
	}
	e, ok := s.encoders[syntax]
	return e, ok
}

// Decodable lists the syntaxes with a decoder, sorted.
func (s *Set) Decodable() []string { return keys(s.decoders) }

// Encodable lists the syntaxes with an encoder, sorted.
func (s *Set) Encodable() []string { return keys(s.encoders) }

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Compressed transfer syntaxes this project knows how to name.
const (
	JPEGBaseline      = "1.2.840.10008.1.2.4.50"
	JPEGExtended      = "1.2.840.10008.1.2.4.51"
	JPEGLossless      = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1   = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless    = "1.2.840.10008.1.2.4.80"
	JPEGLSNear        = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless  = "1.2.840.10008.1.2.4.90"
	JPEG2000          = "1.2.840.10008.1.2.4.91"
	HTJ2KLossless     = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL = "1.2.840.10008.1.2.4.202"
	HTJ2K             = "1.2.840.10008.1.2.4.203"
	RLELossless       = "1.2.840.10008.1.2.5"
)

// Lossless returns the transfer syntax UID an operator names with a short
// name in configuration (compress_at_ingest): "jpeg-ls-lossless",
// "j2k-lossless" or "rle". Only lossless syntaxes have a name: whatever a
// gateway compresses on its own decodes back to the pixels it received.
func Lossless(name string) (string, bool) {
	switch name {
	case "jpeg-ls-lossless":
		return JPEGLSLossless, true
	case "j2k-lossless":
		return JPEG2000Lossless, true
	case "rle":
		return RLELossless, true
	}
	return "", false
}

// LosslessNames are the names Lossless knows, for messages.
const LosslessNames = "jpeg-ls-lossless, j2k-lossless, rle (or off)"
