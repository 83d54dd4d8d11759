// Package rle is the RLE Lossless codec of DICOM (PS3.5 annex G,
// transfer syntax 1.2.840.10008.1.2.5): a 64-byte header of segment
// offsets, then one PackBits segment per byte of each sample, most
// significant byte first and sample after sample.
package rle

import (
	"encoding/binary"
	"fmt"

	"github.com/imgcloud/gateway/codec"
)

// headerSize is the RLE header: 16 little endian uint32, the number of
// segments then up to 15 segment offsets (PS3.5 G.5).
const headerSize = 64

// Decoder decodes RLE Lossless frames.
type Decoder struct{}

// Encoder encodes native frames as RLE Lossless.
type Encoder struct{}

var (
	_ codec.Decoder = Decoder{}
	_ codec.Encoder = Encoder{}
)

// Decode decodes one frame. The segments hold colour-by-plane samples
// whatever PlanarConfiguration says (G.2); the result is interleaved. The
// words are the stored ones, bit for bit (bits above HighBit included), so
// a decode equals the native pixel data the encoder was given.
func (Decoder) Decode(src []byte, f codec.Frame) (codec.Image, error) {
	if err := f.Check(); err != nil {
		return codec.Image{}, err
	}
	if f.Photometric == "YBR_FULL_422" {
		return codec.Image{}, fmt.Errorf("%w: YBR_FULL_422 is not a photometric interpretation of RLE data (PS3.5 G.2)", codec.ErrInvalid)
	}
	segs, err := Segments(src)
	if err != nil {
		return codec.Image{}, err
	}
	bytesPer := f.BitsAllocated / 8
	if want := f.Samples * bytesPer; len(segs) != want {
		return codec.Image{}, fmt.Errorf("%w: RLE frame has %d segments, %d samples of %d bits need %d", codec.ErrInvalid, len(segs), f.Samples, f.BitsAllocated, want)
	}
	pixels := f.Rows * f.Columns
	out := make([]byte, f.Size())
	plane := make([]byte, pixels)
	for i, seg := range segs {
		if err := UnpackBits(plane, seg); err != nil {
			return codec.Image{}, fmt.Errorf("%w: RLE segment %d: %w", codec.ErrInvalid, i+1, err)
		}
		// Segment i is byte b (most significant first) of sample s; native
		// words are little endian.
		s, b := i/bytesPer, i%bytesPer
		at := s*bytesPer + (bytesPer - 1 - b)
		step := f.Samples * bytesPer
		for p, v := range plane {
			out[p*step+at] = v
		}
	}
	return codec.Image{Pixels: out, Photometric: f.Photometric}, nil
}

// Segments splits an RLE frame into its segments using the header.
func Segments(frame []byte) ([][]byte, error) {
	if len(frame) < headerSize {
		return nil, fmt.Errorf("%w: RLE frame is %d bytes, shorter than its 64-byte header", codec.ErrInvalid, len(frame))
	}
	n := int(binary.LittleEndian.Uint32(frame))
	if n < 1 || n > 15 {
		return nil, fmt.Errorf("%w: RLE header names %d segments (1 to 15 allowed)", codec.ErrInvalid, n)
	}
	offs := make([]int, n+1)
	for i := range n {
		offs[i] = int(binary.LittleEndian.Uint32(frame[4+4*i:]))
	}
	offs[n] = len(frame)
	segs := make([][]byte, n)
	for i := range n {
		if offs[i] < headerSize || offs[i] > offs[i+1] || offs[i+1] > len(frame) {
			return nil, fmt.Errorf("%w: RLE segment %d spans bytes %d to %d of a %d-byte frame", codec.ErrInvalid, i+1, offs[i], offs[i+1], len(frame))
		}
		segs[i] = frame[offs[i]:offs[i+1]]
	}
	return segs, nil
}

// UnpackBits decodes one RLE segment (the PackBits scheme of PS3.5 G.3.1)
// into exactly len(dst) bytes: a header byte h in 0..127 copies the next
// h+1 bytes, -127..-1 repeats the next byte 1-h times, and -128 does
// nothing. A segment that decodes to fewer bytes is an error; bytes past
// len(dst) (the padding an even length needs) are ignored.
func UnpackBits(dst, seg []byte) error {
	n, out := len(dst), 0
	for i := 0; i < len(seg) && out < n; {
		h := int8(seg[i])
		i++
		switch {
		case h >= 0:
			c := int(h) + 1
			if i+c > len(seg) {
				return fmt.Errorf("literal run of %d bytes at %d passes the segment end (%d)", c, i-1, len(seg))
			}
			out += copy(dst[out:], seg[i:i+c])
			i += c
		case h != -128:
			if i >= len(seg) {
				return fmt.Errorf("replicate run at %d has no byte to repeat", i-1)
			}
			for range min(1-int(h), n-out) {
				dst[out] = seg[i]
				out++
			}
			i++
		}
	}
	if out < n {
		return fmt.Errorf("segment decodes to %d bytes, the image needs %d", out, n)
	}
	return nil
}

// Encode encodes one native frame (samples interleaved, words little
// endian) as an RLE Lossless frame: the header, then one PackBits segment
// per byte of each sample, each of even length.
func (Encoder) Encode(pixels []byte, f codec.Frame) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if len(pixels) != f.Size() {
		return nil, fmt.Errorf("%w: native frame is %d bytes, %dx%dx%d samples of %d bits are %d", codec.ErrInvalid, len(pixels), f.Columns, f.Rows, f.Samples, f.BitsAllocated, f.Size())
	}
	bytesPer := f.BitsAllocated / 8
	n := f.Samples * bytesPer
	step := n
	out := make([]byte, headerSize, headerSize+len(pixels)+len(pixels)/64+n)
	binary.LittleEndian.PutUint32(out, uint32(n))
	plane := make([]byte, f.Rows*f.Columns)
	for i := range n {
		binary.LittleEndian.PutUint32(out[4+4*i:], uint32(len(out)))
		s, b := i/bytesPer, i%bytesPer
		at := s*bytesPer + (bytesPer - 1 - b)
		for p := range plane {
			plane[p] = pixels[p*step+at]
		}
		// Each row is packed on its own: PS3.5 G.3.1 asks that runs do not
		// cross rows.
		for r := 0; r < len(plane); r += f.Columns {
			out = packBits(out, plane[r:r+f.Columns])
		}
		if len(out)%2 == 1 {
			out = append(out, 0x80) // -128: no operation, pads to even
		}
	}
	return out, nil
}

// packBits appends the PackBits encoding of b: runs of three or more equal
// bytes become replicate runs, the rest literal runs, 128 bytes at most.
func packBits(out, b []byte) []byte {
	for i := 0; i < len(b); {
		j := i + 1
		for j < len(b) && j-i < 128 && b[j] == b[i] {
			j++
		}
		if j-i >= 3 {
			out = append(out, byte(int8(1-(j-i))), b[i])
			i = j
			continue
		}
		// A literal run ends before the next run of three.
		j = i
		for j < len(b) && j-i < 128 && !(j+2 < len(b) && b[j] == b[j+1] && b[j] == b[j+2]) {
			j++
		}
		j = max(j, i+1)
		out = append(out, byte(j-i-1))
		out = append(out, b[i:j]...)
		i = j
	}
	return out
}
