package render

import (
	"bytes"
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
// 256 levels; colour ones are dithered to a fixed palette. Callers with
// many frames use GIFWriter, which holds one frame at a time.
func EncodeGIF(w io.Writer, imgs []image.Image, delay int) error {
	if len(imgs) == 1 {
		if err := gif.Encode(w, paletted(imgs[0]), nil); err != nil {
			return fmt.Errorf("encode GIF: %w", err)
		}
		return nil
	}
	g := NewGIFWriter(w, delay)
	for _, img := range imgs {
		if err := g.WriteFrame(img); err != nil {
			return err
		}
	}
	return g.Close()
}

// GIFWriter writes an animated GIF frame by frame: each frame is encoded
// and written when it is given, so memory holds one frame, not the whole
// animation (image/gif's EncodeAll takes every frame at once).
type GIFWriter struct {
	w       io.Writer
	delay   int
	started bool
	buf     bytes.Buffer
}

// NewGIFWriter returns a GIFWriter over w showing each frame for delay
// hundredths of a second, looping forever.
func NewGIFWriter(w io.Writer, delay int) *GIFWriter {
	return &GIFWriter{w: w, delay: delay}
}

// WriteFrame encodes img and writes it. The first frame sets the size of
// the animation; every frame carries its own colour table.
func (g *GIFWriter) WriteFrame(img image.Image) error {
	// image/gif encodes the frame alone; its image block is then moved
	// into the animation with the global colour table made local.
	g.buf.Reset()
	if err := gif.Encode(&g.buf, paletted(img), nil); err != nil {
		return fmt.Errorf("encode GIF frame: %w", err)
	}
	b := g.buf.Bytes()
	if len(b) < 13+10+1 {
		return fmt.Errorf("encode GIF frame: %d bytes is too short", len(b))
	}
	lsd := b[6:13]
	pos := 13
	var table []byte
	if lsd[4]&0x80 != 0 {
		n := 3 << (int(lsd[4]&7) + 1)
		if pos+n > len(b) {
			return fmt.Errorf("encode GIF frame: colour table cut")
		}
		table, pos = b[pos:pos+n], pos+n
	}
	for pos < len(b) && b[pos] == 0x21 { // extensions image/gif may add: skip
		pos += 2
		for pos < len(b) && b[pos] != 0 {
			pos += int(b[pos]) + 1
		}
		pos++
	}
	if pos+10 > len(b) || b[pos] != 0x2C || b[len(b)-1] != 0x3B {
		return fmt.Errorf("encode GIF frame: unexpected block layout")
	}
	if !g.started {
		// Header, logical screen (no global colour table), loop forever.
		hdr := append([]byte("GIF89a"), lsd[0], lsd[1], lsd[2], lsd[3], 0, 0, 0)
		hdr = append(hdr, 0x21, 0xFF, 0x0B)
		hdr = append(hdr, "NETSCAPE2.0"...)
		hdr = append(hdr, 0x03, 0x01, 0x00, 0x00, 0x00)
		if _, err := g.w.Write(hdr); err != nil {
			return fmt.Errorf("write GIF header: %w", err)
		}
		g.started = true
	}
	d := min(max(g.delay, 0), 0xFFFF)
	gce := []byte{0x21, 0xF9, 0x04, 0x00, byte(d), byte(d >> 8), 0x00, 0x00}
	desc := append([]byte(nil), b[pos:pos+10]...)
	if desc[9]&0x80 == 0 && table != nil {
		desc[9] |= 0x80 | (lsd[4] & 7) // the frame's own colour table
	} else {
		table = nil
	}
	for _, part := range [][]byte{gce, desc, table, b[pos+10 : len(b)-1]} {
		if _, err := g.w.Write(part); err != nil {
			return fmt.Errorf("write GIF frame: %w", err)
		}
	}
	return nil
}

// Close writes the trailer. It does not close the underlying writer.
func (g *GIFWriter) Close() error {
	if !g.started {
		return fmt.Errorf("encode GIF: no frame")
	}
	if _, err := g.w.Write([]byte{0x3B}); err != nil {
		return fmt.Errorf("write GIF trailer: %w", err)
	}
	return nil
}

// GIFFrameBound is the most bytes one w x h frame can take in a GIF: LZW
// codes grow to 12 bits per pixel at worst, plus a colour table and block
// headers.
func GIFFrameBound(w, h int) int64 {
	px := int64(w) * int64(h)
	return px*3/2 + px/255 + 1024
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
