// Package render turns DICOM pixel data into pictures for people: it decodes
// one frame (native, or compressed through the codec.Set it is given), applies the modality
// and VOI transforms of PS3.3 C.11 (rescale, window with LINEAR,
// LINEAR_EXACT or SIGMOID), palette colour and photometric conversions,
// fits the result into a viewport and encodes JPEG, PNG or GIF.
//
// Everything here is a pure function over bytes and attributes: no I/O but
// the io.Writer encoders write to, no HTTP, no storage.
package render

import (
	"fmt"
	"image"

	"github.com/imgcloud/gateway/codec"
)

// Options say how to render one frame.
type Options struct {
	// Window overrides the VOI window; nil uses the file's first window,
	// else one computed from the frame's pixel statistics (DefaultWindow).
	Window *Window
	// Viewport, when not zero, crops and fits the picture (see Fit).
	Viewport Viewport
	// Codecs decode compressed frames; nil decodes native frames only.
	Codecs *codec.Set
}

// Frame decodes one frame of pixel data stored in transfer syntax syntax
// and returns the picture to show, with the window that was applied (zero
// for colour pictures, which are not windowed).
func Frame(p *Params, syntax string, data []byte, opt Options) (image.Image, Window, error) {
	r, err := Decode(p, syntax, data, opt.Codecs)
	if err != nil {
		return nil, Window{}, err
	}
	var w Window
	if r.Samples == 1 && p.Photometric != PhotometricPalette {
		w = DefaultWindow(p, r)
		if opt.Window != nil {
			w = *opt.Window
		}
	}
	img, err := Picture(p, r, w)
	if err != nil {
		return nil, Window{}, err
	}
	img, err = Fit(img, opt.Viewport)
	if err != nil {
		return nil, Window{}, fmt.Errorf("viewport: %w", err)
	}
	return img, w, nil
}
