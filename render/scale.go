package render

import (
	"fmt"
	"image"
	"math"
)

// MaxViewport bounds each side of a rendered picture.
const MaxViewport = 8192

// Viewport is the PS3.18 viewport parameter: fit the picture into Width x
// Height keeping its aspect ratio, after cropping it to Crop (in source
// pixels) when Crop is not empty.
type Viewport struct {
	Width, Height int
	Crop          image.Rectangle
}

// Fit crops img and scales it to fit the viewport, keeping the aspect
// ratio: area averaging when it shrinks (so thin lines and noise do not
// alias), bilinear interpolation when it grows. A zero viewport returns
// img unchanged. img must be an *image.Gray or an *image.RGBA.
func Fit(img image.Image, vp Viewport) (image.Image, error) {
	b := img.Bounds()
	if !vp.Crop.Empty() {
		if !vp.Crop.In(b) {
			return nil, fmt.Errorf("region %v is outside the %dx%d image", vp.Crop, b.Dx(), b.Dy())
		}
		b = vp.Crop
	}
	if vp.Width < 0 || vp.Height < 0 || vp.Width > MaxViewport || vp.Height > MaxViewport {
		return nil, fmt.Errorf("viewport %dx%d: each side must be 1 to %d", vp.Width, vp.Height, MaxViewport)
	}
	w, h := b.Dx(), b.Dy()
	if vp.Width > 0 && vp.Height > 0 {
		s := math.Min(float64(vp.Width)/float64(w), float64(vp.Height)/float64(h))
		w = max(1, min(vp.Width, int(math.Round(float64(w)*s))))
		h = max(1, min(vp.Height, int(math.Round(float64(h)*s))))
	}
	if w == img.Bounds().Dx() && h == img.Bounds().Dy() && b == img.Bounds() {
		return img, nil
	}
	switch src := img.(type) {
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, w, h))
		resample(src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], src.Stride, b.Dx(), b.Dy(), 1, dst.Pix, w, h)
		return dst, nil
	case *image.RGBA:
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		resample(src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], src.Stride, b.Dx(), b.Dy(), 4, dst.Pix, w, h)
		return dst, nil
	}
	return nil, fmt.Errorf("cannot scale a %T", img)
}

// contrib is the weighted source samples of one output sample.
type contrib struct {
	first   int
	weights []float32
}

// contribs computes, for each of dn output samples, the source samples of
// an axis of sn samples it is made of.
func contribs(sn, dn int) []contrib {
	out := make([]contrib, dn)
	scale := float64(dn) / float64(sn)
	for i := range out {
		if scale < 1 { // area average over [i/scale, (i+1)/scale)
			a, z := float64(i)/scale, float64(i+1)/scale
			first, last := int(a), min(int(math.Ceil(z)), sn)
			ws := make([]float32, last-first)
			var sum float32
			for j := first; j < last; j++ {
				ov := math.Min(z, float64(j+1)) - math.Max(a, float64(j))
				ws[j-first] = float32(ov)
				sum += float32(ov)
			}
			for k := range ws {
				ws[k] /= sum
			}
			out[i] = contrib{first: first, weights: ws}
			continue
		}
		c := (float64(i)+0.5)/scale - 0.5
		j := int(math.Floor(c))
		f := float32(c - float64(j))
		switch {
		case j < 0:
			out[i] = contrib{first: 0, weights: []float32{1}}
		case j >= sn-1:
			out[i] = contrib{first: sn - 1, weights: []float32{1}}
		default:
			out[i] = contrib{first: j, weights: []float32{1 - f, f}}
		}
	}
	return out
}

// resample scales an sw x sh image of c channels (src rows stride bytes
// apart) into dst (dw x dh, tightly packed), horizontally then vertically.
func resample(src []uint8, stride, sw, sh, c int, dst []uint8, dw, dh int) {
	hc, vc := contribs(sw, dw), contribs(sh, dh)
	tmp := make([]float32, dw*sh*c)
	for y := range sh {
		row := src[y*stride:]
		for x, ct := range hc {
			for ch := range c {
				var acc float32
				for k, wt := range ct.weights {
					acc += wt * float32(row[(ct.first+k)*c+ch])
				}
				tmp[(y*dw+x)*c+ch] = acc
			}
		}
	}
	for y, ct := range vc {
		for x := range dw * c {
			var acc float32
			for k, wt := range ct.weights {
				acc += wt * tmp[(ct.first+k)*dw*c+x]
			}
			dst[y*dw*c+x] = uint8(min(max(acc+0.5, 0), 255))
		}
	}
}
