package jpeg

import "github.com/imgcloud/gateway/codec"

// finish upsamples subsampled components, converts YCbCr to RGB where the
// data set says the samples are YBR_FULL(_422), sign-extends signed
// samples narrower than their container, and returns the image.
func (d *decoder) finish() codec.Image {
	pi := d.f.Photometric
	if d.sof != mSOF3 {
		for i := 0; i < d.nc; i++ {
			if d.comp[i].plane != nil {
				d.upsample(i)
			}
		}
		if d.nc == 3 && (pi == "YBR_FULL" || pi == "YBR_FULL_422") {
			d.yccToRGB()
			pi = "RGB"
		}
	}
	if d.f.Signed && d.prec < 8*d.bps {
		// The container has bits the codestream did not carry. When it
		// carried them all, they are the stored words, whatever a
		// modality kept above BitsStored, and stay as they are.
		d.signExtend(min(d.prec, d.f.BitsStored))
	}
	return codec.Image{Pixels: d.out, Photometric: pi}
}

// upsample expands component i's plane to the frame's size as IJG 6b
// (DCMTK's JPEG library) does by default: a triangle filter for 2:1
// horizontal and 2:1 horizontal-and-vertical sampling of planes wider than
// two samples, weighting the nearer input sample 3/4; plain replication
// for other ratios. Rows and columns outside the image repeat the edge.
func (d *decoder) upsample(i int) {
	c := &d.comp[i]
	hr, vr := d.hmax/c.h, d.vmax/c.v
	p, w := c.plane, c.w
	line := make([]int32, max(d.x, hr*w)) // one output line
	switch {
	case hr == 2 && vr == 1 && w > 2:
		for y := 0; y < d.y; y++ {
			row := p[y*w : (y+1)*w]
			line[0] = int32(row[0])
			line[1] = (3*int32(row[0]) + int32(row[1]) + 2) >> 2
			for sx := 1; sx < w-1; sx++ {
				v := 3 * int32(row[sx])
				line[2*sx] = (v + int32(row[sx-1]) + 1) >> 2
				line[2*sx+1] = (v + int32(row[sx+1]) + 2) >> 2
			}
			v := 3 * int32(row[w-1])
			line[2*w-2] = (v + int32(row[w-2]) + 1) >> 2
			line[2*w-1] = int32(row[w-1])
			d.putSamples(i, y, line[:d.x], 0)
		}
	case hr == 2 && vr == 2 && w > 2:
		// Each output line mixes its own input line 3:1 with the nearer
		// neighbouring line, then the columns the same way.
		sum := make([]int32, w)
		for y := 0; y < d.y; y++ {
			sy := y / 2
			ny := sy - 1
			if y%2 == 1 {
				ny = sy + 1
			}
			ny = max(0, min(ny, c.ht-1))
			cur, near := p[sy*w:(sy+1)*w], p[ny*w:(ny+1)*w]
			for x := range sum {
				sum[x] = 3*int32(cur[x]) + int32(near[x])
			}
			line[0] = (4*sum[0] + 8) >> 4
			line[1] = (3*sum[0] + sum[1] + 7) >> 4
			for sx := 1; sx < w-1; sx++ {
				v := 3 * sum[sx]
				line[2*sx] = (v + sum[sx-1] + 8) >> 4
				line[2*sx+1] = (v + sum[sx+1] + 7) >> 4
			}
			v := 3 * sum[w-1]
			line[2*w-2] = (v + sum[w-2] + 8) >> 4
			line[2*w-1] = (4*sum[w-1] + 7) >> 4
			d.putSamples(i, y, line[:d.x], 0)
		}
	default:
		for y := 0; y < d.y; y++ {
			row := p[(y/vr)*w:]
			for x := range line[:d.x] {
				line[x] = int32(row[x/hr])
			}
			d.putSamples(i, y, line[:d.x], 0)
		}
	}
	c.plane = nil
}

// putSamples writes line y of component c into the interleaved output,
// shifted left by shift bits (a lossless point transform).
func (d *decoder) putSamples(c, y int, line []int32, shift int) {
	stride := d.nc * d.bps
	o := y*d.x*stride + c*d.bps
	if d.bps == 1 {
		for _, v := range line {
			d.out[o] = byte(v << shift)
			o += stride
		}
		return
	}
	for _, v := range line {
		v <<= shift
		d.out[o] = byte(v)
		d.out[o+1] = byte(v >> 8)
		o += stride
	}
}

// yccToRGB converts in place with the JFIF equations (T.871 section 7) in
// the 16-bit fixed point of IJG's decoder, rounding as it does.
func (d *decoder) yccToRGB() {
	const (
		half = 1 << 15
		crR  = 91881  // 1.40200 · 2^16
		cbB  = 116130 // 1.77200 · 2^16
		crG  = 46802  // 0.71414 · 2^16
		cbG  = 22554  // 0.34414 · 2^16
	)
	center := int32(1) << (d.prec - 1)
	maxv := int32(1)<<d.prec - 1
	if d.bps == 1 {
		px := d.out
		for o := 0; o+2 < len(px); o += 3 {
			y, cb, cr := int32(px[o]), int32(px[o+1])-center, int32(px[o+2])-center
			px[o] = byte(clamp(y+(crR*cr+half)>>16, maxv))
			px[o+1] = byte(clamp(y+(-cbG*cb-crG*cr+half)>>16, maxv))
			px[o+2] = byte(clamp(y+(cbB*cb+half)>>16, maxv))
		}
		return
	}
	n := d.x * d.y
	get := func(o int) int32 {
		if d.bps == 1 {
			return int32(d.out[o])
		}
		return int32(d.out[o]) | int32(d.out[o+1])<<8
	}
	for p := 0; p < n; p++ {
		o := p * 3 * d.bps
		y, cb, cr := get(o), get(o+d.bps)-center, get(o+2*d.bps)-center
		r := clamp(y+(crR*cr+half)>>16, maxv)
		g := clamp(y+(-cbG*cb-crG*cr+half)>>16, maxv)
		b := clamp(y+(cbB*cb+half)>>16, maxv)
		for k, v := range [3]int32{r, g, b} {
			d.out[o+k*d.bps] = byte(v)
			if d.bps == 2 {
				d.out[o+k*d.bps+1] = byte(v >> 8)
			}
		}
	}
}

// signExtend makes the bits-bit two's complement samples fill their
// container, as native signed pixel data holds them.
func (d *decoder) signExtend(bits int) {
	if bits >= 8*d.bps {
		return
	}
	sign := uint16(1) << (bits - 1)
	ext := ^(sign<<1 - 1)
	if d.bps == 1 {
		for i, v := range d.out {
			if uint16(v)&sign != 0 {
				d.out[i] = byte(uint16(v) | ext)
			}
		}
		return
	}
	for i := 0; i+1 < len(d.out); i += 2 {
		v := uint16(d.out[i]) | uint16(d.out[i+1])<<8
		if v&sign != 0 {
			v |= ext
			d.out[i], d.out[i+1] = byte(v), byte(v>>8)
		}
	}
}
