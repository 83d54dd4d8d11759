package render

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// PaletteDescriptor is a Palette Color Lookup Table Descriptor (PS3.3
// C.7.6.3.1.5): how many entries, the first stored value mapped, and the
// bits per entry.
type PaletteDescriptor struct {
	Entries, First, Bits int
}

// Palette is the red, green and blue lookup tables of a PALETTE COLOR
// image. Data holds entries as little endian 16-bit words, or one byte per
// entry for 8-bit tables stored that way.
type Palette struct {
	Descriptor       PaletteDescriptor
	Red, Green, Blue []byte
}

// paletteTags are the LUT data elements (red, green, blue) whose values
// SetPalette takes; segmented palettes (0028,1221...) are not supported.
var paletteTags = [3]string{"00281201", "00281202", "00281203"}

// PaletteDataTags are the tags of the red, green and blue palette data
// elements, in that order.
func PaletteDataTags() [3]string { return paletteTags }

// paletteDescriptor reads the red descriptor and checks green and blue
// agree with it.
func paletteDescriptor(ds dcm.Dataset) (PaletteDescriptor, error) {
	var ds3 [3]PaletteDescriptor
	for i, tag := range []string{"00281101", "00281102", "00281103"} {
		v := ds.Strings(tag)
		if len(v) != 3 {
			return PaletteDescriptor{}, unsupported("PALETTE COLOR without a 3-value descriptor %s", tag)
		}
		var n [3]int
		for j, s := range v {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return PaletteDescriptor{}, unsupported("palette descriptor %s value %q", tag, s)
			}
			n[j] = int(x)
		}
		ds3[i] = PaletteDescriptor{Entries: n[0], First: n[1], Bits: n[2]}
		if ds3[i].Entries == 0 {
			ds3[i].Entries = 1 << 16
		}
	}
	if ds3[0] != ds3[1] || ds3[0] != ds3[2] {
		return PaletteDescriptor{}, unsupported("red, green and blue palette descriptors differ")
	}
	if d := ds3[0]; d.Bits != 8 && d.Bits != 16 || d.Entries < 1 {
		return PaletteDescriptor{}, unsupported("palette descriptor %d entries of %d bits", d.Entries, d.Bits)
	}
	return ds3[0], nil
}

// SetPalette attaches the red, green and blue LUT data to a PALETTE COLOR
// image's parameters.
func (p *Params) SetPalette(red, green, blue []byte) error {
	if p.Palette == nil {
		return fmt.Errorf("set palette: photometric interpretation is %s, not PALETTE COLOR", p.Photometric)
	}
	d := p.Palette.Descriptor
	for i, b := range [][]byte{red, green, blue} {
		if len(b) != d.Entries*2 && !(d.Bits == 8 && len(b) >= d.Entries) {
			return fmt.Errorf("palette data %s is %d bytes for %d entries of %d bits: %w",
				paletteTags[i], len(b), d.Entries, d.Bits, unsupported("palette data size"))
		}
	}
	p.Palette.Red, p.Palette.Green, p.Palette.Blue = red, green, blue
	return nil
}

// lut8 expands one channel to 8-bit output values, one per entry.
func (pl *Palette) lut8(data []byte) []uint8 {
	d := pl.Descriptor
	out := make([]uint8, d.Entries)
	wide := len(data) >= d.Entries*2
	for i := range out {
		switch {
		case d.Bits == 16:
			out[i] = uint8(binary.LittleEndian.Uint16(data[2*i:]) >> 8)
		case wide:
			out[i] = uint8(binary.LittleEndian.Uint16(data[2*i:]))
		default:
			out[i] = data[i]
		}
	}
	return out
}
