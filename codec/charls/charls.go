//go:build cgocodecs && cgo

package charls

/*
#cgo pkg-config: charls
#include <charls/charls.h>
#include <stdlib.h>

static const char *gw_message(charls_jpegls_errc e) { return charls_get_error_message(e); }
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/imgcloud/gateway/codec"
)

// Syntaxes are the transfer syntaxes Decoder decodes.
var Syntaxes = []string{codec.JPEGLSLossless, codec.JPEGLSNear}

// Decoder decodes JPEG-LS frames. The zero value is ready.
type Decoder struct{}

var _ codec.Decoder = Decoder{}

// libError turns a CharLS error code into an error wrapping ErrInvalid
// with CharLS's own sentence.
func libError(action string, e C.charls_jpegls_errc) error {
	return fmt.Errorf("%s: %w: CharLS: %s (%d)", action, codec.ErrInvalid, C.GoString(C.gw_message(e)), int(e))
}

// Decode decodes one frame.
func (Decoder) Decode(src []byte, f codec.Frame) (codec.Image, error) {
	if err := f.Check(); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG-LS: %w", err)
	}
	if len(src) < 4 || src[0] != 0xff || src[1] != 0xd8 {
		return codec.Image{}, fmt.Errorf("decode JPEG-LS: %w: no SOI marker", codec.ErrInvalid)
	}
	src = closed(src)
	dec := C.charls_jpegls_decoder_create()
	if dec == nil {
		return codec.Image{}, fmt.Errorf("decode JPEG-LS: cannot allocate the decoder")
	}
	defer C.charls_jpegls_decoder_destroy(dec)
	// The decoder keeps the source pointer between calls.
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&src[0])
	if e := C.charls_jpegls_decoder_set_source_buffer(dec, unsafe.Pointer(&src[0]), C.size_t(len(src))); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS", e)
	}
	if e := C.charls_jpegls_decoder_read_header(dec); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS header", e)
	}
	var info C.charls_frame_info
	if e := C.charls_jpegls_decoder_get_frame_info(dec, &info); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS header", e)
	}
	var near C.int32_t
	if e := C.charls_jpegls_decoder_get_near_lossless(dec, 0, &near); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS header", e)
	}
	var ilv C.charls_interleave_mode
	if e := C.charls_jpegls_decoder_get_interleave_mode(dec, &ilv); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS header", e)
	}
	bits := int(info.bits_per_sample)
	if err := checkHeader(int(info.width), int(info.height), int(info.component_count), bits, int(near), f); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG-LS: %w", err)
	}
	var size C.size_t
	if e := C.charls_jpegls_decoder_get_destination_size(dec, 0, &size); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS", e)
	}
	bps := 1
	if bits > 8 {
		bps = 2
	}
	n := f.Rows * f.Columns * f.Samples
	if int(size) != n*bps {
		return codec.Image{}, fmt.Errorf("decode JPEG-LS: %w: CharLS wants %d bytes for %d samples", codec.ErrInvalid, size, n)
	}
	raw := make([]byte, n*bps)
	if e := C.charls_jpegls_decoder_decode_to_buffer(dec, unsafe.Pointer(&raw[0]), size, 0); e != 0 {
		return codec.Image{}, libError("decode JPEG-LS", e)
	}
	if ilv == C.CHARLS_INTERLEAVE_MODE_NONE && f.Samples == 3 {
		raw = interleave(raw, f.Rows*f.Columns, bps)
	}
	return codec.Image{Pixels: native(raw, bps, bits, f), Photometric: f.Photometric}, nil
}

// closed returns src ending with an EOI marker. CharLS 2.4.1 spins for
// many seconds on some scans that run into the end of the buffer without
// a marker (FuzzDecode found one: 20 s of processor time for 45x67
// pixels, kept in testdata/fuzz); a scan closed by EOI fails at once.
// Trailing zero bytes (a fragment's padding) after EOI are left alone.
func closed(src []byte) []byte {
	if bytes.HasSuffix(bytes.TrimRight(src, "\x00"), []byte{0xff, 0xd9}) {
		return src
	}
	out := make([]byte, len(src), len(src)+2)
	copy(out, src)
	return append(out, 0xff, 0xd9)
}

// checkHeader compares the frame header and scan's NEAR with the frame.
func checkHeader(w, h, comps, bits, near int, f codec.Frame) error {
	switch {
	case w != f.Columns || h != f.Rows:
		return fmt.Errorf("%w: the stream is %dx%d pixels, the frame %dx%d", codec.ErrInvalid, w, h, f.Columns, f.Rows)
	case comps != f.Samples:
		return fmt.Errorf("%w: the stream has %d components, the frame %d samples per pixel", codec.ErrInvalid, comps, f.Samples)
	case bits < 2 || bits > f.BitsAllocated:
		return fmt.Errorf("%w: %d bits per sample in %d allocated", codec.ErrInvalid, bits, f.BitsAllocated)
	case near < 0 || near > min(255, (1<<bits-1)/2):
		// ISO/IEC 14495-1 C.2.3: NEAR is at most min(255, MAXVAL/2).
		return fmt.Errorf("%w: NEAR %d for %d-bit samples (at most %d)", codec.ErrInvalid, near, bits, min(255, (1<<bits-1)/2))
	}
	return nil
}

// interleave turns planes (interleave mode none) into pixels.
func interleave(pl []byte, n, bps int) []byte {
	out := make([]byte, len(pl))
	for c := range 3 {
		for p := range n {
			copy(out[(p*3+c)*bps:(p*3+c+1)*bps], pl[(c*n+p)*bps:])
		}
	}
	return out
}

// native lays CharLS's samples (one byte each up to 8 bits, else two,
// little endian) out for the frame's allocated bits, extending the sign
// of signed samples: JPEG-LS codes the two's complement pattern of the
// stored bits as an unsigned number.
func native(raw []byte, bps, bits int, f codec.Frame) []byte {
	if f.BitsAllocated == 8 {
		return raw
	}
	n := len(raw) / bps
	out := raw
	if bps == 1 {
		out = make([]byte, 2*n)
	}
	// The pattern fills the stored bits only when the stream codes them.
	sh := uint(0)
	if f.Signed && bits == f.BitsStored && bits < 16 {
		sh = uint(16 - bits)
	}
	for i := range n {
		var v uint16
		if bps == 1 {
			v = uint16(raw[i])
		} else {
			v = binary.LittleEndian.Uint16(raw[2*i:])
		}
		if sh > 0 {
			v = uint16(int16(v<<sh) >> sh)
		}
		binary.LittleEndian.PutUint16(out[2*i:], v)
	}
	return out
}

// Encoder encodes native frames as lossless JPEG-LS (1.2.840.10008.1.2.4.80),
// three samples sample-interleaved. The zero value is ready.
type Encoder struct{}

var _ codec.Encoder = Encoder{}

// Encode encodes one frame laid out as codec.Image.Pixels.
func (Encoder) Encode(pixels []byte, f codec.Frame) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("encode JPEG-LS: %w", err)
	}
	if len(pixels) != f.Size() {
		return nil, fmt.Errorf("encode JPEG-LS: %w: %d bytes of pixels for a frame of %d", codec.ErrInvalid, len(pixels), f.Size())
	}
	bits, src := encodeBits(pixels, f)
	enc := C.charls_jpegls_encoder_create()
	if enc == nil {
		return nil, fmt.Errorf("encode JPEG-LS: cannot allocate the encoder")
	}
	defer C.charls_jpegls_encoder_destroy(enc)
	info := C.charls_frame_info{width: C.uint32_t(f.Columns), height: C.uint32_t(f.Rows),
		bits_per_sample: C.int32_t(bits), component_count: C.int32_t(f.Samples)}
	if e := C.charls_jpegls_encoder_set_frame_info(enc, &info); e != 0 {
		return nil, libError("encode JPEG-LS", e)
	}
	if f.Samples == 3 {
		if e := C.charls_jpegls_encoder_set_interleave_mode(enc, C.CHARLS_INTERLEAVE_MODE_SAMPLE); e != 0 {
			return nil, libError("encode JPEG-LS", e)
		}
	}
	var size C.size_t
	if e := C.charls_jpegls_encoder_get_estimated_destination_size(enc, &size); e != 0 {
		return nil, libError("encode JPEG-LS", e)
	}
	dst := make([]byte, int(size))
	// The encoder keeps the destination pointer between calls.
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&dst[0])
	if e := C.charls_jpegls_encoder_set_destination_buffer(enc, unsafe.Pointer(&dst[0]), size); e != 0 {
		return nil, libError("encode JPEG-LS", e)
	}
	if e := C.charls_jpegls_encoder_encode_from_buffer(enc, unsafe.Pointer(&src[0]), C.size_t(len(src)), 0); e != 0 {
		return nil, libError("encode JPEG-LS", e)
	}
	var written C.size_t
	if e := C.charls_jpegls_encoder_get_bytes_written(enc, &written); e != 0 {
		return nil, libError("encode JPEG-LS", e)
	}
	return dst[:written], nil
}

// encodeBits picks the precision to code (the stored bits, or all the
// allocated ones when a sample lies outside their range, so the decode
// gives back the exact bytes) and the samples as CharLS reads them:
// signed samples as the two's complement pattern of that precision.
func encodeBits(px []byte, f codec.Frame) (int, []byte) {
	bits := max(f.BitsStored, 2)
	if f.BitsAllocated == 8 {
		for _, b := range px {
			if f.Signed && bits < 8 && !fits(int(int8(b)), bits, true) || !f.Signed && int(b) >= 1<<bits {
				return 8, px
			}
		}
		if !f.Signed || bits == 8 {
			return bits, px
		}
		out := make([]byte, len(px))
		for i, b := range px {
			out[i] = b & (1<<bits - 1)
		}
		return bits, out
	}
	for i := 0; i+1 < len(px); i += 2 {
		v := binary.LittleEndian.Uint16(px[i:])
		if f.Signed && !fits(int(int16(v)), bits, true) || !f.Signed && !fits(int(v), bits, false) {
			return 16, px
		}
	}
	if !f.Signed || bits == 16 {
		return bits, px
	}
	out := make([]byte, len(px))
	for i := 0; i+1 < len(px); i += 2 {
		binary.LittleEndian.PutUint16(out[i:], binary.LittleEndian.Uint16(px[i:])&(1<<bits-1))
	}
	return bits, out
}

func fits(v, bits int, signed bool) bool {
	if signed {
		return v >= -(1<<(bits-1)) && v < 1<<(bits-1)
	}
	return v >= 0 && v < 1<<bits
}
