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
		if p.SamplesPerPixel != 3 {
			return nil, fmt.Errorf("JPEG frame is colour, the attributes say %d samples", p.SamplesPerPixel)
		}
		r.Samples, r.Photometric = 3, PhotometricRGB
		r.Values = make([]int32, 3*r.Width*r.Height)
		for y := range r.Height {
			for x := range r.Width {
				yi, ci := img.YOffset(x+b.Min.X, y+b.Min.Y), img.COffset(x+b.Min.X, y+b.Min.Y)
				R, G, B := color.YCbCrToRGB(img.Y[yi], img.Cb[ci], img.Cr[ci])
				o := 3 * (y*r.Width + x)
				r.Values[o], r.Values[o+1], r.Values[o+2] = int32(R), int32(G), int32(B)
			}
		}
	case *image.RGBA: // Adobe APP14 transform 0: the components are RGB
		if p.SamplesPerPixel != 3 {
			return nil, fmt.Errorf("JPEG frame is colour, the attributes say %d samples", p.SamplesPerPixel)
		}
		r.Samples, r.Photometric = 3, PhotometricRGB
		r.Values = make([]int32, 3*r.Width*r.Height)
		for y := range r.Height {
			for x := range r.Width {
				px := img.Pix[img.PixOffset(x+b.Min.X, y+b.Min.Y):]
				o := 3 * (y*r.Width + x)
				r.Values[o], r.Values[o+1], r.Values[o+2] = int32(px[0]), int32(px[1]), int32(px[2])
			}
		}
	default:
		return nil, &UnsupportedError{TransferSyntax: syntax, Reason: fmt.Sprintf("JPEG colour model %T", img)}
	}
	return r, nil
}
