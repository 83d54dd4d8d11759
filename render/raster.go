package render

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/codec"
)

// Raster is one decoded frame: stored pixel values before any transform,
// pixel-interleaved (R, G, B, R, G, B... for colour), sign-extended when
// PixelRepresentation is 1.
type Raster struct {
	Width, Height, Samples int
	Values                 []int32
	// Photometric is how to read Values: JPEG colour decodes to RGB
	// whatever the header said, and YBR_FULL_422 expands to YBR_FULL.
	Photometric string
}

// Native transfer syntaxes, decoded here; compressed ones go to the
// codec.Set the caller gives.
const (
	syntaxImplicitLE = "1.2.840.10008.1.2"
	syntaxExplicitLE = "1.2.840.10008.1.2.1"
	syntaxDeflated   = "1.2.840.10008.1.2.1.99"
	syntaxExplicitBE = "1.2.840.10008.1.2.2"
)

// Decode turns one frame's bytes into a Raster. syntax is the transfer
// syntax of the bytes: native syntaxes (the frame as stored; Params.
// BigEndian says the word order) are read here, compressed ones by the
// decoder codecs has for syntax. A syntax without one is an
// *UnsupportedError naming it; data that does not decode wraps
// ErrUndecodable.
func Decode(p *Params, syntax string, data []byte, codecs *codec.Set) (*Raster, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	switch syntax {
	case syntaxImplicitLE, syntaxExplicitLE, syntaxDeflated, syntaxExplicitBE:
		return decodeNative(p, data)
	}
	d, ok := codecs.Decoder(syntax)
	if !ok {
		return nil, &UnsupportedError{TransferSyntax: syntax,
			Reason: "this build of the gateway has no decoder for it (see /readyz); retrieve the frames with transfer-syntax=* and decode them in the client"}
	}
	f := CodecFrame(p)
	img, err := d.Decode(data, f)
	switch {
	case errors.Is(err, codec.ErrUnsupported):
		return nil, &UnsupportedError{TransferSyntax: syntax, Reason: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	return RasterOf(p, img)
}

// CodecFrame is the codec's description of a frame with parameters p.
func CodecFrame(p *Params) codec.Frame {
	return codec.Frame{Rows: p.Rows, Columns: p.Columns, Samples: p.SamplesPerPixel,
		BitsAllocated: p.BitsAllocated, BitsStored: p.BitsStored, Signed: p.PixelRepresentation == 1,
		Photometric: p.Photometric}
}

// Decoded returns the parameters of frames decoded from compressed data
// (native pixels, samples interleaved, little endian) whose samples are
// in photometric interpretation photometric: what a decoder produced.
func (p *Params) Decoded(photometric string) *Params {
	q := *p
	q.PlanarConfiguration, q.BigEndian = 0, false
	if photometric != "" {
		q.Photometric = photometric
	}
	if q.Photometric == PhotometricYBRFull422 {
		q.Photometric = PhotometricYBRFull // decoders give every sample of every pixel
	}
	return &q
}

// RasterOf reads a decoded frame (interleaved native pixels) into a
// Raster, with the photometric interpretation the decoder produced.
func RasterOf(p *Params, img codec.Image) (*Raster, error) {
	if len(img.Pixels) != CodecFrame(p).Size() {
		return nil, fmt.Errorf("%w: decoded frame is %d bytes, %dx%dx%d samples of %d bits are %d",
			ErrUndecodable, len(img.Pixels), p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, CodecFrame(p).Size())
	}
	return decodeNative(p.Decoded(img.Photometric), img.Pixels)
}

// decodeNative reads uncompressed pixel data.
func decodeNative(p *Params, data []byte) (*Raster, error) {
	// Native YBR_FULL_422 pairs pixels of a row (compressed frames decode
	// to every sample, whatever the width).
	if p.Photometric == PhotometricYBRFull422 && p.Columns%2 == 1 {
		return nil, unsupported("native YBR_FULL_422 with an odd number of columns (%d)", p.Columns)
	}
	if p.Photometric == PhotometricYBRRCT || p.Photometric == PhotometricYBRICT {
		return nil, unsupported("%s pixel data that is not JPEG 2000", p.Photometric)
	}
	need := p.FrameBytes()
	if len(data) < need {
		return nil, fmt.Errorf("native frame is %d bytes, %dx%dx%d samples of %d bits need %d",
			len(data), p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, need)
	}
	n := need / (p.BitsAllocated / 8)
	vals := make([]int32, n)
	conv := storedValue(p)
	if p.BitsAllocated == 8 {
		for i := range vals {
			vals[i] = conv(uint32(data[i]))
		}
	} else {
		var bo binary.ByteOrder = binary.LittleEndian
		if p.BigEndian {
			bo = binary.BigEndian
		}
		for i := range vals {
			vals[i] = conv(uint32(bo.Uint16(data[2*i:])))
		}
	}
	r := &Raster{Width: p.Columns, Height: p.Rows, Samples: p.SamplesPerPixel, Values: vals, Photometric: p.Photometric}
	switch {
	case p.Photometric == PhotometricYBRFull422:
		r.Values, r.Photometric = expand422(vals, p.Columns, p.Rows), PhotometricYBRFull
	case p.SamplesPerPixel == 3 && p.PlanarConfiguration == 1:
		r.Values = interleave(vals, p.Columns*p.Rows)
	}
	return r, nil
}

// storedValue returns a function that keeps the BitsStored low bits of a
// word (HighBit = BitsStored-1, as nearly all files have) and sign-extends
// them for PixelRepresentation 1.
func storedValue(p *Params) func(uint32) int32 {
	bits := uint(p.BitsStored)
	mask := uint32(1)<<bits - 1
	if p.PixelRepresentation == 1 {
		shift := 32 - bits
		return func(w uint32) int32 { return int32((w&mask)<<shift) >> shift }
	}
	return func(w uint32) int32 { return int32(w & mask) }
}

// interleave turns colour-by-plane samples (RRR...GGG...BBB...) into
// colour-by-pixel ones.
func interleave(planes []int32, pixels int) []int32 {
	out := make([]int32, 3*pixels)
	for i := range pixels {
		out[3*i] = planes[i]
		out[3*i+1] = planes[pixels+i]
		out[3*i+2] = planes[2*pixels+i]
	}
	return out
}

// expand422 turns YBR_FULL_422 native data (Y1 Y2 Cb Cr for each pair of
// pixels in a row) into full YCbCr triplets.
func expand422(v []int32, cols, rows int) []int32 {
	out := make([]int32, 3*cols*rows)
	in := 0
	for y := range rows {
		for x := 0; x < cols; x += 2 {
			y1, y2, cb, cr := v[in], v[in+1], v[in+2], v[in+3]
			in += 4
			o := 3 * (y*cols + x)
			out[o], out[o+1], out[o+2] = y1, cb, cr
			if x+1 < cols {
				out[o+3], out[o+4], out[o+5] = y2, cb, cr
			}
		}
	}
	return out
}
