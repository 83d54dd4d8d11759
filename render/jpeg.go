package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// decodeJPEG decodes one JPEG baseline (8-bit) frame with the standard
// library. Colour frames come back as RGB: the decoder undoes the YCbCr
// transform that YBR_FULL_422 JPEG data carries.
func decodeJPEG(p *Params, syntax string, data []byte) (*Raster, error) {
	if p.BitsStored > 8 {
		return nil, &UnsupportedError{TransferSyntax: syntax, Reason: fmt.Sprintf("%d-bit JPEG (only 8-bit JPEG is decoded)", p.BitsStored)}
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		var ue jpeg.UnsupportedError
		if errors.As(err, &ue) {
			return nil, &UnsupportedError{TransferSyntax: syntax, Reason: "JPEG feature: " + string(ue)}
		}
		return nil, fmt.Errorf("decode JPEG frame: %w", err)
	}
	b := img.Bounds()
	if b.Dx() != p.Columns || b.Dy() != p.Rows {
		return nil, fmt.Errorf("JPEG frame is %dx%d, the attributes say %dx%d", b.Dx(), b.Dy(), p.Columns, p.Rows)
	}
	r := &Raster{Width: b.Dx(), Height: b.Dy()}
	switch img := img.(type) {
	case *image.Gray:
		if p.SamplesPerPixel != 1 {
			return nil, fmt.Errorf("JPEG frame is grayscale, the attributes say %d samples", p.SamplesPerPixel)
		}
		r.Samples, r.Photometric = 1, p.Photometric
		r.Values = make([]int32, r.Width*r.Height)
		for y := range r.Height {
			row := img.Pix[y*img.Stride : y*img.Stride+r.Width]
			for x, v := range row {
				r.Values[y*r.Width+x] = int32(v)
			}
		}
	case *image.YCbCr:
		return colourRaster(r, p, func(x, y int) (uint8, uint8, uint8) {
			yi, ci := img.YOffset(x+b.Min.X, y+b.Min.Y), img.COffset(x+b.Min.X, y+b.Min.Y)
			return color.YCbCrToRGB(img.Y[yi], img.Cb[ci], img.Cr[ci])
		})
	case *image.RGBA: // Adobe APP14 transform 0: the components are RGB
		return colourRaster(r, p, func(x, y int) (uint8, uint8, uint8) {
			px := img.Pix[img.PixOffset(x+b.Min.X, y+b.Min.Y):]
			return px[0], px[1], px[2]
		})
	default:
		return nil, &UnsupportedError{TransferSyntax: syntax, Reason: fmt.Sprintf("JPEG colour model %T", img)}
	}
	return r, nil
}

// colourRaster fills r with the RGB values rgb gives for each pixel.
func colourRaster(r *Raster, p *Params, rgb func(x, y int) (uint8, uint8, uint8)) (*Raster, error) {
	if p.SamplesPerPixel != 3 {
		return nil, fmt.Errorf("JPEG frame is colour, the attributes say %d samples", p.SamplesPerPixel)
	}
	r.Samples, r.Photometric = 3, PhotometricRGB
	r.Values = make([]int32, 3*r.Width*r.Height)
	for y := range r.Height {
		for x := range r.Width {
			R, G, B := rgb(x, y)
			o := 3 * (y*r.Width + x)
			r.Values[o], r.Values[o+1], r.Values[o+2] = int32(R), int32(G), int32(B)
		}
	}
	return r, nil
}
