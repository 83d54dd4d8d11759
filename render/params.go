package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// Photometric interpretations the renderer knows (PS3.3 C.7.6.3.1.2).
const (
	PhotometricMonochrome1 = "MONOCHROME1"
	PhotometricMonochrome2 = "MONOCHROME2"
	PhotometricRGB         = "RGB"
	PhotometricPalette     = "PALETTE COLOR"
	PhotometricYBRFull     = "YBR_FULL"
	PhotometricYBRFull422  = "YBR_FULL_422"
	// YBR_RCT and YBR_ICT are the component transforms of JPEG 2000: only
	// compressed data is stored so, and its decoders give RGB.
	PhotometricYBRRCT = "YBR_RCT"
	PhotometricYBRICT = "YBR_ICT"
)

// Params describe a frame's pixel layout and the transforms that make it
// displayable: the Image Pixel module, Modality LUT (rescale) and VOI LUT
// (window) attributes.
type Params struct {
	Rows, Columns       int
	SamplesPerPixel     int
	BitsAllocated       int
	BitsStored          int
	PixelRepresentation int // 0 unsigned, 1 two's complement
	Photometric         string
	PlanarConfiguration int // 0 colour-by-pixel, 1 colour-by-plane
	RescaleSlope        float64
	RescaleIntercept    float64
	// Windows are the VOI windows the file offers, first is the default.
	Windows []Window
	// Palette is set for PALETTE COLOR images (see SetPalette).
	Palette *Palette
	// BigEndian is true when native pixel words are stored big endian
	// (Explicit VR Big Endian files, whose frames are stored as such).
	BigEndian bool
	// Modality (0008,0060) picks the fallback window when the file's is
	// unusable: 0..max for PET, whose values are activity, not tissue.
	Modality string
}

// ParamsFrom reads Params from instance attributes (tags as in DICOM
// JSON: "00280010" Rows and so on) and checks they describe an image the
// renderer can draw.
func ParamsFrom(ds dcm.Dataset) (*Params, error) {
	p := &Params{
		SamplesPerPixel:  intOr(ds, "00280002", 1),
		Photometric:      strings.ToUpper(strings.TrimSpace(ds.String("00280004"))),
		RescaleSlope:     floatOr(ds, "00281053", 1),
		RescaleIntercept: floatOr(ds, "00281052", 0),
		Modality:         strings.ToUpper(strings.TrimSpace(ds.String("00080060"))),
	}
	p.Rows, _ = ds.Int("00280010")
	p.Columns, _ = ds.Int("00280011")
	p.BitsAllocated, _ = ds.Int("00280100")
	p.BitsStored = intOr(ds, "00280101", p.BitsAllocated)
	p.PixelRepresentation = intOr(ds, "00280103", 0)
	p.PlanarConfiguration = intOr(ds, "00280006", 0)
	if p.RescaleSlope == 0 {
		p.RescaleSlope = 1
	}
	if p.Photometric == "" {
		p.Photometric = PhotometricMonochrome2
		if p.SamplesPerPixel == 3 {
			p.Photometric = PhotometricRGB
		}
	}
	centers, widths := ds.Strings("00281050"), ds.Strings("00281051")
	fn := WindowFunction(strings.ToUpper(strings.TrimSpace(ds.String("00281056"))))
	for i := range min(len(centers), len(widths)) {
		c, err1 := strconv.ParseFloat(strings.TrimSpace(centers[i]), 64)
		w, err2 := strconv.ParseFloat(strings.TrimSpace(widths[i]), 64)
		win := Window{Center: c, Width: w, Function: fn}
		if err1 == nil && err2 == nil && win.Valid() == nil {
			p.Windows = append(p.Windows, win)
		}
	}
	if p.Photometric == PhotometricPalette {
		d, err := paletteDescriptor(ds)
		if err != nil {
			return nil, err
		}
		p.Palette = &Palette{Descriptor: d}
	}
	return p, p.Check()
}

// Check reports whether the renderer can draw images with these
// parameters; the error is an *UnsupportedError or names the bad field.
func (p *Params) Check() error {
	switch {
	case p.Rows <= 0 || p.Columns <= 0:
		return fmt.Errorf("image has %d rows and %d columns: %w", p.Rows, p.Columns, unsupported("no image pixel module"))
	case p.BitsAllocated != 8 && p.BitsAllocated != 16:
		return unsupported("BitsAllocated %d (only 8 and 16 are rendered)", p.BitsAllocated)
	case p.BitsStored < 1 || p.BitsStored > p.BitsAllocated:
		return unsupported("BitsStored %d with BitsAllocated %d", p.BitsStored, p.BitsAllocated)
	case p.PixelRepresentation != 0 && p.PixelRepresentation != 1:
		return unsupported("PixelRepresentation %d", p.PixelRepresentation)
	}
	switch p.Photometric {
	case PhotometricMonochrome1, PhotometricMonochrome2:
		if p.SamplesPerPixel != 1 {
			return unsupported("%s with %d samples per pixel", p.Photometric, p.SamplesPerPixel)
		}
	case PhotometricPalette:
		if p.SamplesPerPixel != 1 || p.Palette == nil {
			return unsupported("PALETTE COLOR without a one-sample palette")
		}
	case PhotometricRGB, PhotometricYBRFull, PhotometricYBRFull422, PhotometricYBRRCT, PhotometricYBRICT:
		if p.SamplesPerPixel != 3 {
			return unsupported("%s with %d samples per pixel", p.Photometric, p.SamplesPerPixel)
		}
	default:
		return unsupported("photometric interpretation %q", p.Photometric)
	}
	if int64(p.Rows)*int64(p.Columns) > 1<<28 {
		return unsupported("%dx%d pixels is too large to render", p.Columns, p.Rows)
	}
	return nil
}

// FrameBytes is the size of one native frame in bytes.
func (p *Params) FrameBytes() int {
	n := p.Rows * p.Columns * p.SamplesPerPixel * (p.BitsAllocated / 8)
	if p.Photometric == PhotometricYBRFull422 {
		n = n * 2 / 3 // two luminance samples share one Cb and one Cr
	}
	return n
}

func intOr(ds dcm.Dataset, tag string, def int) int {
	if v, ok := ds.Int(tag); ok {
		return v
	}
	return def
}

func floatOr(ds dcm.Dataset, tag string, def float64) float64 {
	s := strings.TrimSpace(ds.String(tag))
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return def
	}
	return v
}
