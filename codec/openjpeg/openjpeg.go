//go:build cgocodecs && cgo

package openjpeg

/*
#cgo pkg-config: libopenjp2
#include <openjpeg.h>
#include <stdlib.h>
#include <string.h>

// gw_log keeps the library's error and warning messages, bounded, so that
// they end up in the Go error instead of on stderr.
typedef struct {
	char text[768];
	size_t len;
} gw_log;

static void gw_append(gw_log *l, const char *m) {
	if (l->len > 0 && l->len + 2 < sizeof(l->text)) {
		memcpy(l->text + l->len, "; ", 2);
		l->len += 2;
	}
	for (; *m && l->len + 1 < sizeof(l->text); m++) {
		if (*m != '\n') l->text[l->len++] = *m;
	}
	l->text[l->len] = 0;
}

static void gw_msg(const char *m, void *u) { gw_append((gw_log *)u, m); }

// gw_mem is a read stream over one frame's bytes (pinned Go memory).
typedef struct {
	const unsigned char *data;
	OPJ_SIZE_T size, pos;
} gw_mem;

static OPJ_SIZE_T gw_read(void *buf, OPJ_SIZE_T n, void *u) {
	gw_mem *m = u;
	if (m->pos >= m->size) return (OPJ_SIZE_T)-1;
	OPJ_SIZE_T k = m->size - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T gw_skip(OPJ_OFF_T n, void *u) {
	gw_mem *m = u;
	if (n < 0) {
		if ((OPJ_SIZE_T)(-n) > m->pos) return -1;
	} else if ((OPJ_SIZE_T)n > m->size - m->pos) {
		n = (OPJ_OFF_T)(m->size - m->pos);
	}
	m->pos += n;
	return n;
}

static OPJ_BOOL gw_seek(OPJ_OFF_T n, void *u) {
	gw_mem *m = u;
	if (n < 0 || (OPJ_SIZE_T)n > m->size) return OPJ_FALSE;
	m->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

// gw_dec is one decode: the stream, the codec, the image, and what the
// main header says about tiles and transforms.
typedef struct {
	gw_mem mem;
	gw_log log;
	opj_stream_t *stream;
	opj_codec_t *codec;
	opj_image_t *image;
	int have_info;
	OPJ_UINT32 tdx, tdy, tw, th;
	OPJ_UINT32 mct, levels;
} gw_dec;

static int gw_dec_open(gw_dec *d, const unsigned char *data, size_t size, int jp2) {
	d->mem.data = data;
	d->mem.size = size;
	d->stream = opj_stream_create(64 * 1024, OPJ_TRUE);
	if (!d->stream) return 0;
	opj_stream_set_user_data(d->stream, &d->mem, NULL);
	opj_stream_set_user_data_length(d->stream, size);
	opj_stream_set_read_function(d->stream, gw_read);
	opj_stream_set_skip_function(d->stream, gw_skip);
	opj_stream_set_seek_function(d->stream, gw_seek);
	d->codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	if (!d->codec) return 0;
	opj_set_error_handler(d->codec, gw_msg, &d->log);
	opj_set_warning_handler(d->codec, gw_msg, &d->log);
	opj_dparameters_t p;
	opj_set_default_decoder_parameters(&p);
	if (!opj_setup_decoder(d->codec, &p)) return 0;
	// Strict: a truncated codestream is an error, not a partial image.
	if (!opj_decoder_set_strict_mode(d->codec, OPJ_TRUE)) return 0;
	if (!opj_read_header(d->stream, d->codec, &d->image)) return 0;
	opj_codestream_info_v2_t *ci = opj_get_cstr_info(d->codec);
	if (ci) {
		d->have_info = 1;
		d->tdx = ci->tdx;
		d->tdy = ci->tdy;
		d->tw = ci->tw;
		d->th = ci->th;
		d->mct = ci->m_default_tile_info.mct;
		if (ci->m_default_tile_info.tccp_info) {
			for (OPJ_UINT32 c = 0; c < ci->nbcomps; c++) {
				OPJ_UINT32 r = ci->m_default_tile_info.tccp_info[c].numresolutions;
				if (r > 0 && r - 1 > d->levels) d->levels = r - 1;
			}
		}
		opj_destroy_cstr_info(&ci);
	}
	return 1;
}

static int gw_dec_decode(gw_dec *d) {
	return opj_decode(d->codec, d->stream, d->image) && opj_end_decompress(d->codec, d->stream);
}

static void gw_dec_close(gw_dec *d) {
	if (d->image) opj_image_destroy(d->image);
	if (d->codec) opj_destroy_codec(d->codec);
	if (d->stream) opj_stream_destroy(d->stream);
}

static opj_image_comp_t *gw_comp(opj_image_t *im, OPJ_UINT32 i) { return &im->comps[i]; }

// gw_out is a growing write stream for the encoder.
typedef struct {
	unsigned char *buf;
	OPJ_SIZE_T len, cap, pos;
} gw_out;

static int gw_grow(gw_out *o, OPJ_SIZE_T need) {
	if (need <= o->cap) return 1;
	OPJ_SIZE_T c = o->cap ? o->cap : 64 * 1024;
	while (c < need) c *= 2;
	unsigned char *b = realloc(o->buf, c);
	if (!b) return 0;
	memset(b + o->cap, 0, c - o->cap);
	o->buf = b;
	o->cap = c;
	return 1;
}

static OPJ_SIZE_T gw_write(void *buf, OPJ_SIZE_T n, void *u) {
	gw_out *o = u;
	if (!gw_grow(o, o->pos + n)) return (OPJ_SIZE_T)-1;
	memcpy(o->buf + o->pos, buf, n);
	o->pos += n;
	if (o->pos > o->len) o->len = o->pos;
	return n;
}

static OPJ_OFF_T gw_out_skip(OPJ_OFF_T n, void *u) {
	gw_out *o = u;
	if (n < 0 && (OPJ_SIZE_T)(-n) > o->pos) return -1;
	if (n > 0 && !gw_grow(o, o->pos + n)) return -1;
	o->pos += n;
	if (o->pos > o->len) o->len = o->pos;
	return n;
}

static OPJ_BOOL gw_out_seek(OPJ_OFF_T n, void *u) {
	gw_out *o = u;
	if (n < 0 || !gw_grow(o, (OPJ_SIZE_T)n)) return OPJ_FALSE;
	o->pos = (OPJ_SIZE_T)n;
	if (o->pos > o->len) o->len = o->pos;
	return OPJ_TRUE;
}

// gw_encode writes a lossless (reversible 5/3) J2K codestream of the
// native frame px into out. prec is raised to the allocated bits when a
// sample lies outside the range of the stored bits, so that the decode
// gives back the exact bytes.
static int gw_encode(const unsigned char *px, int w, int h, int comps, int bytes, int prec,
                     int sgnd, int levels, gw_out *out, gw_log *log) {
	OPJ_SIZE_T n = (OPJ_SIZE_T)w * (OPJ_SIZE_T)h;
	OPJ_INT32 lo = sgnd ? -(1 << (prec - 1)) : 0, hi = sgnd ? (1 << (prec - 1)) - 1 : (1 << prec) - 1;
	int wide = 0;
	for (OPJ_SIZE_T i = 0; i < n * comps && !wide; i++) {
		OPJ_INT32 v;
		if (bytes == 1) v = sgnd ? (OPJ_INT32)(signed char)px[i] : px[i];
		else {
			unsigned u = px[2 * i] | (px[2 * i + 1] << 8);
			v = sgnd ? (OPJ_INT32)(short)u : (OPJ_INT32)u;
		}
		if (v < lo || v > hi) wide = 1;
	}
	if (wide) prec = bytes * 8;

	opj_image_cmptparm_t cp[3];
	memset(cp, 0, sizeof cp);
	for (int c = 0; c < comps; c++) {
		cp[c].dx = cp[c].dy = 1;
		cp[c].w = w;
		cp[c].h = h;
		cp[c].prec = prec;
		cp[c].sgnd = sgnd;
	}
	opj_image_t *im = opj_image_create(comps, cp, comps == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY);
	if (!im) {
		gw_append(log, "cannot allocate the image");
		return 0;
	}
	im->x0 = im->y0 = 0;
	im->x1 = w;
	im->y1 = h;
	for (int c = 0; c < comps; c++) {
		OPJ_INT32 *d = im->comps[c].data;
		for (OPJ_SIZE_T i = 0; i < n; i++) {
			OPJ_SIZE_T k = i * comps + c;
			if (bytes == 1) d[i] = sgnd ? (OPJ_INT32)(signed char)px[k] : px[k];
			else {
				unsigned u = px[2 * k] | (px[2 * k + 1] << 8);
				d[i] = sgnd ? (OPJ_INT32)(short)u : (OPJ_INT32)u;
			}
		}
	}

	opj_cparameters_t p;
	opj_set_default_encoder_parameters(&p);
	p.tcp_numlayers = 1;
	p.tcp_rates[0] = 0; // lossless
	p.cp_disto_alloc = 1;
	p.irreversible = 0;
	p.numresolution = levels + 1;
	p.tcp_mct = comps == 3 ? 1 : 0; // RCT for colour, none for grey

	int ok = 0;
	opj_stream_t *s = NULL;
	opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
	if (!codec) goto done;
	opj_set_error_handler(codec, gw_msg, log);
	opj_set_warning_handler(codec, gw_msg, log);
	if (!opj_setup_encoder(codec, &p, im)) goto done;
	s = opj_stream_create(1 << 20, OPJ_FALSE);
	if (!s) goto done;
	opj_stream_set_user_data(s, out, NULL);
	opj_stream_set_write_function(s, gw_write);
	opj_stream_set_skip_function(s, gw_out_skip);
	opj_stream_set_seek_function(s, gw_out_seek);
	ok = opj_start_compress(codec, im, s) && opj_encode(codec, s) && opj_end_compress(codec, s);
done:
	if (s) opj_stream_destroy(s);
	if (codec) opj_destroy_codec(codec);
	opj_image_destroy(im);
	return ok;
}
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
var Syntaxes = []string{codec.JPEG2000Lossless, codec.JPEG2000, codec.HTJ2KLossless, codec.HTJ2KLosslessRPCL, codec.HTJ2K}

// maxSamples bounds one frame's decoded samples: OpenJPEG holds each as a
// 32-bit integer, so this is 1 GiB of working memory at most.
const maxSamples = 1 << 28

// maxLevels is the largest number of wavelet decomposition levels the
// standard allows (ISO/IEC 15444-1 A.6.1); OpenJPEG's own bound is 32 too.
const maxLevels = 32

// minTile is the smallest tile side decoded (unless the image is smaller).
const minTile = 16

// jp2Signature starts a JP2 file (its signature box); a raw codestream
// starts with the SOC and SIZ markers.
var (
	jp2Signature = []byte{0, 0, 0, 0x0c, 'j', 'P', ' ', ' ', 0x0d, 0x0a, 0x87, 0x0a}
	j2kSignature = []byte{0xff, 0x4f, 0xff, 0x51}
)

// LossySyntaxes are the syntaxes of Syntaxes whose codestreams may be
// lossy: decode them with Decoder{Lossy: true}.
var LossySyntaxes = []string{codec.JPEG2000, codec.HTJ2K}

// Decoder decodes JPEG 2000 and HTJ2K frames. The zero value is ready.
type Decoder struct {
	// Lossy clamps decoded samples to the range of BitsStored. A lossy
	// codestream declaring a larger precision than BitsStored (GDCM
	// writes 16 for 12-bit data) decodes to values beyond it where the
	// quantisation overshoots, which a reader that keeps BitsStored bits
	// would wrap around (a bright edge of a signed 12-bit image at 2060
	// read as -2036). Lossless decodes keep every bit.
	Lossy bool
}

var _ codec.Decoder = Decoder{}

// Decode decodes one frame: src is a J2K codestream or a JP2 file.
func (o Decoder) Decode(src []byte, f codec.Frame) (codec.Image, error) {
	if err := f.Check(); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w", err)
	}
	if f.Rows*f.Columns*f.Samples > maxSamples {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w: %dx%dx%d samples is more than %d",
			codec.ErrUnsupported, f.Columns, f.Rows, f.Samples, maxSamples)
	}
	jp2 := 0
	switch {
	case bytes.HasPrefix(src, jp2Signature):
		jp2 = 1
	case bytes.HasPrefix(src, j2kSignature):
	default:
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w: neither a J2K codestream (FF4F FF51) nor a JP2 file", codec.ErrInvalid)
	}

	// The library allocates per tile and per component while it reads the
	// main header: check its SIZ first.
	if err := checkSIZ(src, jp2 == 1, f); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w", err)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&src[0])
	d := (*C.gw_dec)(C.calloc(1, C.sizeof_gw_dec))
	if d == nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: cannot allocate the decoder")
	}
	defer C.free(unsafe.Pointer(d))
	defer C.gw_dec_close(d)

	if C.gw_dec_open(d, (*C.uchar)(unsafe.Pointer(&src[0])), C.size_t(len(src)), C.int(jp2)) == 0 {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000 header: %w: %s", codec.ErrInvalid, libMessage(d))
	}
	if err := checkHeader(d, f); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w", err)
	}
	if C.gw_dec_decode(d) == 0 {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w: %s", codec.ErrInvalid, libMessage(d))
	}
	// A JP2 palette or channel definition changes the components while
	// decoding: check again what came out.
	if err := checkImage(d.image, f); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w", err)
	}
	img := codec.Image{Pixels: make([]byte, f.Size()), Photometric: f.Photometric}
	if f.Samples == 3 && d.mct != 0 {
		// The inverse component transform (RCT or ICT) gave RGB.
		img.Photometric = "RGB"
	}
	if err := copyPixels(img.Pixels, d.image, f, o.Lossy); err != nil {
		return codec.Image{}, fmt.Errorf("decode JPEG 2000: %w", err)
	}
	return img, nil
}

func libMessage(d *C.gw_dec) string {
	if d.log.len == 0 {
		return "OpenJPEG gave no reason"
	}
	return "OpenJPEG: " + C.GoStringN(&d.log.text[0], C.int(d.log.len))
}

// checkSIZ reads the image and tile sizes and the component count of the
// codestream's SIZ marker segment (ISO/IEC 15444-1 A.5.1), inside the
// JP2 file's contiguous codestream box when src is one, and compares them
// with the frame.
func checkSIZ(src []byte, jp2 bool, f codec.Frame) error {
	cs := src
	if jp2 {
		var err error
		if cs, err = codestreamBox(src); err != nil {
			return err
		}
	}
	if len(cs) < 4+38 || !bytes.HasPrefix(cs, j2kSignature) {
		return fmt.Errorf("%w: no SIZ marker segment at the start of the codestream", codec.ErrInvalid)
	}
	be := binary.BigEndian
	x, y, xo, yo := be.Uint32(cs[8:]), be.Uint32(cs[12:]), be.Uint32(cs[16:]), be.Uint32(cs[20:])
	tx, ty, txo, tyo := be.Uint32(cs[24:]), be.Uint32(cs[28:]), be.Uint32(cs[32:]), be.Uint32(cs[36:])
	comps := int(be.Uint16(cs[40:]))
	switch {
	case xo >= x || yo >= y || int64(x-xo) != int64(f.Columns) || int64(y-yo) != int64(f.Rows):
		return fmt.Errorf("%w: the codestream is %dx%d pixels, the frame %dx%d", codec.ErrInvalid, int64(x)-int64(xo), int64(y)-int64(yo), f.Columns, f.Rows)
	case comps != f.Samples:
		return fmt.Errorf("%w: the codestream has %d components, the frame %d samples per pixel", codec.ErrInvalid, comps, f.Samples)
	case tx == 0 || ty == 0 || txo > xo || tyo > yo:
		return fmt.Errorf("%w: tiles of %dx%d at %d,%d", codec.ErrInvalid, tx, ty, txo, tyo)
	case int64(tx) < int64(min(minTile, f.Columns)) || int64(ty) < int64(min(minTile, f.Rows)):
		return fmt.Errorf("%w: tiles of %dx%d pixels (at least %d)", codec.ErrUnsupported, tx, ty, minTile)
	}
	return nil
}

// codestreamBox returns the contents of a JP2 file's first contiguous
// codestream box ("jp2c", ISO/IEC 15444-1 I.5.4).
func codestreamBox(b []byte) ([]byte, error) {
	for len(b) >= 8 {
		n, typ, head := uint64(binary.BigEndian.Uint32(b)), string(b[4:8]), uint64(8)
		switch n {
		case 0:
			n = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return nil, fmt.Errorf("%w: a truncated JP2 box", codec.ErrInvalid)
			}
			n, head = binary.BigEndian.Uint64(b[8:]), 16
		}
		if n < head || n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: a JP2 box %q of %d bytes in %d", codec.ErrInvalid, typ, n, len(b))
		}
		if typ == "jp2c" {
			return b[head:n], nil
		}
		b = b[n:]
	}
	return nil, fmt.Errorf("%w: no codestream box in the JP2 file", codec.ErrInvalid)
}

// checkHeader compares what the main header declares with the frame,
// before any tile is decoded.
func checkHeader(d *C.gw_dec, f codec.Frame) error {
	if err := checkImage(d.image, f); err != nil {
		return err
	}
	if d.have_info == 0 {
		return fmt.Errorf("%w: no codestream information after the main header", codec.ErrInvalid)
	}
	if d.levels > maxLevels {
		return fmt.Errorf("%w: %d decomposition levels (at most %d)", codec.ErrInvalid, d.levels, maxLevels)
	}
	// Each tile costs the library its own structures: tiles of a few
	// pixels make a small codestream very expensive to decode.
	if d.tdx == 0 || d.tdy == 0 || d.tw == 0 || d.th == 0 || uint64(d.tw)*uint64(d.th) > 65535 ||
		int(d.tdx) < min(minTile, f.Columns) || int(d.tdy) < min(minTile, f.Rows) {
		return fmt.Errorf("%w: a grid of %dx%d tiles of %dx%d pixels", codec.ErrUnsupported, d.tw, d.th, d.tdx, d.tdy)
	}
	if f.Samples == 1 && d.mct != 0 {
		return fmt.Errorf("%w: a component transform on a single component", codec.ErrInvalid)
	}
	return nil
}

// checkImage compares the image's geometry and components with the frame.
func checkImage(im *C.opj_image_t, f codec.Frame) error {
	if im == nil {
		return fmt.Errorf("%w: no image", codec.ErrInvalid)
	}
	w, h := int64(im.x1)-int64(im.x0), int64(im.y1)-int64(im.y0)
	if w != int64(f.Columns) || h != int64(f.Rows) {
		return fmt.Errorf("%w: the codestream is %dx%d pixels, the frame %dx%d", codec.ErrInvalid, w, h, f.Columns, f.Rows)
	}
	if int(im.numcomps) != f.Samples {
		return fmt.Errorf("%w: the codestream has %d components, the frame %d samples per pixel", codec.ErrInvalid, im.numcomps, f.Samples)
	}
	for i := 0; i < f.Samples; i++ {
		c := C.gw_comp(im, C.OPJ_UINT32(i))
		if c.dx != 1 || c.dy != 1 {
			return fmt.Errorf("%w: component %d is subsampled %dx%d", codec.ErrUnsupported, i, c.dx, c.dy)
		}
		if c.prec < 1 || int(c.prec) > f.BitsAllocated {
			return fmt.Errorf("%w: component %d has %d bits, more than the %d allocated", codec.ErrInvalid, i, c.prec, f.BitsAllocated)
		}
	}
	return nil
}

// copyPixels lays the decoded components out as native pixel data,
// clamped to the range of BitsStored when clamp is set.
func copyPixels(dst []byte, im *C.opj_image_t, f codec.Frame, clamp bool) error {
	n := f.Rows * f.Columns
	lo, hi := int32(0), int32(1)<<f.BitsStored-1
	if f.Signed {
		lo, hi = -(int32(1) << (f.BitsStored - 1)), int32(1)<<(f.BitsStored-1)-1
	}
	for i := 0; i < f.Samples; i++ {
		c := C.gw_comp(im, C.OPJ_UINT32(i))
		if c.data == nil || int(c.w) != f.Columns || int(c.h) != f.Rows {
			return fmt.Errorf("%w: component %d decoded to %dx%d", codec.ErrInvalid, i, c.w, c.h)
		}
		src := unsafe.Slice((*int32)(unsafe.Pointer(c.data)), n)
		prec := uint(c.prec)
		// A signed frame stored as an unsigned component holds two's
		// complement patterns of prec bits: extend their sign.
		extend := f.Signed && c.sgnd == 0 && prec < 32
		for p, v := range src {
			if extend {
				v = v << (32 - prec) >> (32 - prec)
			}
			if clamp {
				v = min(max(v, lo), hi)
			}
			k := p*f.Samples + i
			if f.BitsAllocated == 8 {
				dst[k] = byte(v)
			} else {
				binary.LittleEndian.PutUint16(dst[2*k:], uint16(v))
			}
		}
	}
	return nil
}

// Encoder encodes native frames as lossless JPEG 2000 codestreams
// (1.2.840.10008.1.2.4.90): the reversible 5/3 wavelet, one quality
// layer, no component transform for one sample and the reversible colour
// transform (RCT) for three, so an RGB frame encoded here is stored with
// PhotometricInterpretation YBR_RCT. The zero value is ready.
type Encoder struct{}

var _ codec.Encoder = Encoder{}

// Encode encodes one frame laid out as codec.Image.Pixels.
func (Encoder) Encode(pixels []byte, f codec.Frame) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("encode JPEG 2000: %w", err)
	}
	if len(pixels) != f.Size() {
		return nil, fmt.Errorf("encode JPEG 2000: %w: %d bytes of pixels for a frame of %d", codec.ErrInvalid, len(pixels), f.Size())
	}
	if f.Rows*f.Columns*f.Samples > maxSamples {
		return nil, fmt.Errorf("encode JPEG 2000: %w: %d samples is more than %d", codec.ErrUnsupported, f.Rows*f.Columns*f.Samples, maxSamples)
	}
	// Five levels, fewer for small images: each level halves the
	// smallest side, which must stay at least one pixel.
	levels := 5
	for levels > 0 && 1<<levels > min(f.Rows, f.Columns) {
		levels--
	}
	var out C.gw_out
	var log C.gw_log
	defer func() { C.free(unsafe.Pointer(out.buf)) }()
	signed := 0
	if f.Signed {
		signed = 1
	}
	if C.gw_encode((*C.uchar)(unsafe.Pointer(&pixels[0])), C.int(f.Columns), C.int(f.Rows), C.int(f.Samples),
		C.int(f.BitsAllocated/8), C.int(f.BitsStored), C.int(signed), C.int(levels), &out, &log) == 0 {
		msg := "OpenJPEG gave no reason"
		if log.len > 0 {
			msg = "OpenJPEG: " + C.GoStringN(&log.text[0], C.int(log.len))
		}
		return nil, fmt.Errorf("encode JPEG 2000: %s", msg)
	}
	return C.GoBytes(unsafe.Pointer(out.buf), C.int(out.len)), nil
}
