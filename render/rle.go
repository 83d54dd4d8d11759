package render

import (
	"encoding/binary"
	"fmt"
)

// rleHeaderSize is the RLE header: 16 little endian uint32, the number of
// segments then up to 15 segment offsets (PS3.5 G.5).
const rleHeaderSize = 64

// decodeRLE decodes one RLE Lossless frame (PS3.5 annex G). Each segment
// holds one byte of one sample for every pixel, most significant byte
// first and sample after sample, so the result is colour-by-plane whatever
// PlanarConfiguration says (G.2).
func decodeRLE(p *Params, data []byte) (*Raster, error) {
	if p.Photometric == PhotometricYBRFull422 {
		return nil, unsupported("YBR_FULL_422 is not a valid RLE photometric interpretation")
	}
	segs, err := RLESegments(data)
	if err != nil {
		return nil, err
	}
	bytesPer := p.BitsAllocated / 8
	if want := p.SamplesPerPixel * bytesPer; len(segs) != want {
		return nil, fmt.Errorf("RLE frame has %d segments, %d samples of %d bits need %d", len(segs), p.SamplesPerPixel, p.BitsAllocated, want)
	}
	pixels := p.Rows * p.Columns
	planes := make([][]byte, len(segs))
	for i, seg := range segs {
		if planes[i], err = UnpackBits(seg, pixels); err != nil {
			return nil, fmt.Errorf("RLE segment %d: %w", i+1, err)
		}
	}
	conv := storedValue(p)
	vals := make([]int32, pixels*p.SamplesPerPixel)
	for s := range p.SamplesPerPixel {
		for i := range pixels {
			var w uint32
			for b := range bytesPer {
				w = w<<8 | uint32(planes[s*bytesPer+b][i])
			}
			vals[i*p.SamplesPerPixel+s] = conv(w)
		}
	}
	return &Raster{Width: p.Columns, Height: p.Rows, Samples: p.SamplesPerPixel, Values: vals, Photometric: p.Photometric}, nil
}

// RLESegments splits an RLE frame into its segments using the header.
func RLESegments(frame []byte) ([][]byte, error) {
	if len(frame) < rleHeaderSize {
		return nil, fmt.Errorf("RLE frame is %d bytes, shorter than its 64-byte header", len(frame))
	}
	n := int(binary.LittleEndian.Uint32(frame))
	if n < 1 || n > 15 {
		return nil, fmt.Errorf("RLE header names %d segments (1 to 15 allowed)", n)
	}
	offs := make([]int, n+1)
	for i := range n {
		offs[i] = int(binary.LittleEndian.Uint32(frame[4+4*i:]))
	}
	offs[n] = len(frame)
	segs := make([][]byte, n)
	for i := range n {
		if offs[i] < rleHeaderSize || offs[i] > offs[i+1] || offs[i+1] > len(frame) {
			return nil, fmt.Errorf("RLE segment %d spans bytes %d to %d of a %d-byte frame", i+1, offs[i], offs[i+1], len(frame))
		}
		segs[i] = frame[offs[i]:offs[i+1]]
	}
	return segs, nil
}

// UnpackBits decodes one RLE segment (the PackBits scheme of PS3.5 G.3.1)
// into exactly n bytes: a header byte h in 0..127 copies the next h+1
// bytes, -127..-1 repeats the next byte 1-h times, and -128 does nothing.
// A segment that decodes to fewer bytes is an error; bytes past n (the
// padding an even length needs) are ignored.
func UnpackBits(seg []byte, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for i := 0; i < len(seg) && len(out) < n; {
		h := int8(seg[i])
		i++
		switch {
		case h >= 0:
			c := int(h) + 1
			if i+c > len(seg) {
				return nil, fmt.Errorf("literal run of %d bytes at %d passes the segment end (%d)", c, i-1, len(seg))
			}
			out = append(out, seg[i:i+c]...)
			i += c
		case h != -128:
			if i >= len(seg) {
				return nil, fmt.Errorf("replicate run at %d has no byte to repeat", i-1)
			}
			for range 1 - int(h) {
				out = append(out, seg[i])
			}
			i++
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("segment decodes to %d bytes, the image needs %d", len(out), n)
	}
	return out[:n], nil
}
