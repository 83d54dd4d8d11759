// Package stdjpeg wraps the standard library's image/jpeg as a
// codec.Decoder for 8-bit JPEG (baseline, 1.2.840.10008.1.2.4.50, and the
// 8-bit frames of extended, .4.51). It is what the gateway decoded before
// codec/jpeg; the wiring registers it only for syntaxes no better decoder
// claims.
package stdjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/imgcloud/gateway/codec"
)

// Decoder decodes 8-bit JPEG frames. Colour frames come back as RGB: the
// standard decoder undoes the YCbCr transform that YBR_FULL_422 data
// carries (and takes RGB components as they are under Adobe's transform 0).
type Decoder struct{}

var _ codec.Decoder = Decoder{}

// Decode decodes one frame.
func (Decoder) Decode(src []byte, f codec.Frame) (codec.Image, error) {
	if err := f.Check(); err != nil {
		return codec.Image{}, err
	}
	if f.BitsAllocated != 8 || f.BitsStored > 8 {
		return codec.Image{}, fmt.Errorf("%w: %d-bit JPEG (image/jpeg decodes 8-bit JPEG only)", codec.ErrUnsupported, f.BitsStored)
	}
	// The header first, so that a frame declaring another size than its
	// attributes is refused before the decoder allocates for it.
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return codec.Image{}, wrap(err)
	}
	if cfg.Width != f.Columns || cfg.Height != f.Rows {
		return codec.Image{}, fmt.Errorf("%w: JPEG frame is %dx%d, the attributes say %dx%d", codec.ErrInvalid, cfg.Width, cfg.Height, f.Columns, f.Rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return codec.Image{}, wrap(err)
	}
	b := img.Bounds()
	switch img := img.(type) {
	case *image.Gray:
		if f.Samples != 1 {
			return codec.Image{}, fmt.Errorf("%w: JPEG frame is grayscale, the attributes say %d samples", codec.ErrInvalid, f.Samples)
		}
		out := make([]byte, 0, f.Size())
		for y := range b.Dy() {
			out = append(out, img.Pix[y*img.Stride:y*img.Stride+b.Dx()]...)
		}
		return codec.Image{Pixels: out, Photometric: f.Photometric}, nil
	case *image.YCbCr:
		return colour(f, b, func(x, y int) (uint8, uint8, uint8) {
			yi, ci := img.YOffset(x, y), img.COffset(x, y)
			return color.YCbCrToRGB(img.Y[yi], img.Cb[ci], img.Cr[ci])
		})
	case *image.RGBA: // Adobe APP14 transform 0: the components are RGB
		return colour(f, b, func(x, y int) (uint8, uint8, uint8) {
			px := img.Pix[img.PixOffset(x, y):]
			return px[0], px[1], px[2]
		})
	}
	return codec.Image{}, fmt.Errorf("%w: JPEG colour model %T", codec.ErrUnsupported, img)
}

func colour(f codec.Frame, b image.Rectangle, rgb func(x, y int) (uint8, uint8, uint8)) (codec.Image, error) {
	if f.Samples != 3 {
		return codec.Image{}, fmt.Errorf("%w: JPEG frame is colour, the attributes say %d samples", codec.ErrInvalid, f.Samples)
	}
	out := make([]byte, 0, f.Size())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := rgb(x, y)
			out = append(out, r, g, bl)
		}
	}
	return codec.Image{Pixels: out, Photometric: "RGB"}, nil
}

// wrap sorts image/jpeg's errors into the codec's two kinds.
func wrap(err error) error {
	var ue jpeg.UnsupportedError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: JPEG feature: %s", codec.ErrUnsupported, string(ue))
	}
	return fmt.Errorf("%w: %w", codec.ErrInvalid, err)
}
