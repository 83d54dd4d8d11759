package render

import (
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
)

// Media types the renderer writes.
const (
	MediaJPEG = "image/jpeg"
	MediaPNG  = "image/png"
	MediaGIF  = "image/gif"
)

// DefaultQuality is the JPEG quality when none is asked for.
const DefaultQuality = 90

// Encode writes one picture as JPEG (at quality 1 to 100; 0 means
// DefaultQuality), PNG or GIF.
func Encode(w io.Writer, img image.Image, media string, quality int) error {
	switch media {
	case MediaJPEG:
		if quality <= 0 {
			quality = DefaultQuality
		}
		if err := jpeg.Encode(w, img, &jpeg.Options{Quality: min(quality, 100)}); err != nil {
			return fmt.Errorf("encode JPEG: %w", err)
		}
		return nil
	case MediaPNG:
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, img); err != nil {
			return fmt.Errorf("encode PNG: %w", err)
		}
		return nil
	case MediaGIF:
		return EncodeGIF(w, []image.Image{img}, 0)
	}
	return unsupported("media type %q (image/jpeg, image/png and image/gif are rendered)", media)
}

// EncodeGIF writes pictures as a GIF, animated when there are several,
// each shown for delay hundredths of a second. Grayscale pictures keep all
// 256 levels; colour ones are dithered to a fixed palette.
func EncodeGIF(w io.Writer, imgs []image.Image, delay int) error {
	anim := &gif.GIF{LoopCount: 0}
	for _, img := range imgs {
		anim.Image = append(anim.Image, paletted(img))
		anim.Delay = append(anim.Delay, delay)
	}
	if err := gif.EncodeAll(w, anim); err != nil {
		return fmt.Errorf("encode GIF: %w", err)
	}
	return nil
}

// grays is a palette of the 256 gray levels.
func grays() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		p[i] = color.Gray{Y: uint8(i)}
	}
	return p
}

// paletted converts a picture for GIF: gray levels map one to one.
func paletted(img image.Image) *image.Paletted {
	b := img.Bounds()
	if g, ok := img.(*image.Gray); ok {
		out := image.NewPaletted(b, grays())
		for y := range b.Dy() {
			copy(out.Pix[y*out.Stride:y*out.Stride+b.Dx()], g.Pix[y*g.Stride:])
		}
		return out
	}
	out := image.NewPaletted(b, palette.Plan9)
	draw.FloydSteinberg.Draw(out, b, img, b.Min)
	return out
}
