package render

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
)

// Picture turns a decoded frame into an 8-bit picture: grayscale frames go
// through rescale (Modality LUT) and window w (VOI LUT), inverted for
// MONOCHROME1; palette frames through their lookup tables; YBR frames are
// converted to RGB; colour samples wider than 8 bits are scaled down.
func Picture(p *Params, r *Raster, w Window) (image.Image, error) {
	if len(r.Values) < r.Width*r.Height*r.Samples {
		return nil, fmt.Errorf("raster holds %d values for %dx%dx%d", len(r.Values), r.Width, r.Height, r.Samples)
	}
	if r.Samples == 3 {
		return colourPicture(p, r), nil
	}
	if r.Photometric == PhotometricPalette {
		return palettePicture(p, r)
	}
	if err := w.Valid(); err != nil {
		return nil, err
	}
	return grayPicture(p, r, w), nil
}

// grayPicture applies rescale and window through a lookup table indexed by
// stored value, which is at most 2^16 entries for 16-bit data.
func grayPicture(p *Params, r *Raster, w Window) *image.Gray {
	lo, hi := slices.Min(r.Values), slices.Max(r.Values)
	invert := r.Photometric == PhotometricMonochrome1
	lut := make([]uint8, int(hi-lo)+1)
	for i := range lut {
		y := w.Apply(float64(lo+int32(i))*p.RescaleSlope + p.RescaleIntercept)
		v := uint8(math.Round(min(max(y, 0), 255)))
		if invert {
			v = 255 - v
		}
		lut[i] = v
	}
	img := image.NewGray(image.Rect(0, 0, r.Width, r.Height))
	for i, v := range r.Values[:r.Width*r.Height] {
		img.Pix[i] = lut[v-lo]
	}
	return img
}

// palettePicture looks stored values up in the red, green and blue tables;
// values below the first mapped one take the first entry, values above the
// last take the last (PS3.3 C.7.6.3.1.5).
func palettePicture(p *Params, r *Raster) (*image.RGBA, error) {
	pl := p.Palette
	if pl == nil || pl.Red == nil {
		return nil, fmt.Errorf("palette colour image without palette data")
	}
	red, green, blue := pl.lut8(pl.Red), pl.lut8(pl.Green), pl.lut8(pl.Blue)
	first := pl.Descriptor.First
	if p.PixelRepresentation == 1 && first > 32767 {
		first -= 65536 // the descriptor's US value is read as SS for signed data
	}
	last := pl.Descriptor.Entries - 1
	img := image.NewRGBA(image.Rect(0, 0, r.Width, r.Height))
	for i, v := range r.Values[:r.Width*r.Height] {
		k := min(max(int(v)-first, 0), last)
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = red[k], green[k], blue[k], 255
	}
	return img, nil
}

// colourPicture converts RGB or YBR_FULL samples to 8-bit RGB.
func colourPicture(p *Params, r *Raster) *image.RGBA {
	shift := uint(max(p.BitsStored-8, 0))
	if r.Photometric == PhotometricRGB && p.Photometric != PhotometricRGB {
		shift = 0 // decoded from JPEG: already 8-bit RGB
	}
	ybr := r.Photometric == PhotometricYBRFull
	img := image.NewRGBA(image.Rect(0, 0, r.Width, r.Height))
	n := r.Width * r.Height
	for i := range n {
		a, b, c := r.Values[3*i]>>shift, r.Values[3*i+1]>>shift, r.Values[3*i+2]>>shift
		R, G, B := clamp8(a), clamp8(b), clamp8(c)
		if ybr {
			R, G, B = color.YCbCrToRGB(R, G, B)
		}
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = R, G, B, 255
	}
	return img
}

func clamp8(v int32) uint8 { return uint8(min(max(v, 0), 255)) }
