package jpeg

// unzig maps a zig-zag index to its natural (row-major) position
// (T.81 Figure A.6).
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// sequential decodes one scan of baseline or extended sequential DCT
// (T.81 Annex F). A scan of one component codes its blocks in raster
// order; an interleaved scan codes MCUs of h×v blocks per component,
// including blocks past the image edge, which are decoded and dropped.
func (d *decoder) sequential(sc []scanComp) error {
	mcusX := (d.x + 8*d.hmax - 1) / (8 * d.hmax)
	mcusY := (d.y + 8*d.vmax - 1) / (8 * d.vmax)
	if len(sc) == 1 {
		mcusX, mcusY = sc[0].c.bw, sc[0].c.bh
	}
	for i := range sc {
		c := sc[i].c
		if c.h != d.hmax || c.v != d.vmax {
			c.plane = make([]uint16, c.w*c.ht)
		}
	}
	maxDC := 11
	if d.prec == 12 {
		maxDC = 15
	}
	var blk [64]int32
	mcu, interval := 0, 0
	b := &d.bits
	for my := 0; my < mcusY; my++ {
		for mx := 0; mx < mcusX; mx++ {
			if d.ri > 0 && mcu > 0 && mcu%d.ri == 0 {
				interval++
				if err := d.restart(interval - 1); err != nil {
					return err
				}
				for i := range sc {
					sc[i].pred = 0
				}
			}
			for i := range sc {
				s := &sc[i]
				nh, nv := s.c.h, s.c.v
				if len(sc) == 1 {
					nh, nv = 1, 1
				}
				for by := 0; by < nv; by++ {
					for bx := 0; bx < nh; bx++ {
						ac, err := d.block(b, s, &blk, maxDC)
						if err != nil {
							return err
						}
						d.storeBlock(s, mx*nh+bx, my*nv+by, &blk, ac)
					}
				}
			}
			mcu++
		}
		if b.overrun() {
			return errTruncated
		}
	}
	return nil
}

// block decodes one 8×8 block's coefficients (T.81 F.2.2), dequantised,
// into blk in natural order, and says whether any AC coefficient is set.
func (d *decoder) block(b *bitReader, s *scanComp, blk *[64]int32, maxDC int) (bool, error) {
	*blk = [64]int32{}
	t := b.decode(s.dc)
	if t < 0 || t > maxDC {
		return false, invalidf("DC difference category %d", t)
	}
	s.pred += b.receiveExtend(t)
	blk[0] = s.pred * s.q[0]
	ac := false
	for k := 1; k < 64; {
		rs := b.decode(s.ac)
		if rs < 0 {
			return false, invalidf("bits that are no AC code")
		}
		r, size := rs>>4, rs&15
		if size == 0 {
			if r != 15 {
				break // end of block
			}
			k += 16
			continue
		}
		k += r
		if k > 63 {
			return false, invalidf("AC coefficients run past the block")
		}
		blk[unzig[k]] = b.receiveExtend(size) * s.q[k]
		ac = true
		k++
	}
	return ac, nil
}

// storeBlock transforms one block and writes the samples inside the
// component to the output, or to the component's plane when subsampled.
func (d *decoder) storeBlock(s *scanComp, bx, by int, blk *[64]int32, ac bool) {
	c := s.c
	x0, y0 := bx*8, by*8
	if x0 >= c.w || y0 >= c.ht {
		return
	}
	var px [64]int32
	d.idct(blk, &px, ac)
	w, h := min(8, c.w-x0), min(8, c.ht-y0)
	if c.plane != nil {
		for y := 0; y < h; y++ {
			row := c.plane[(y0+y)*c.w+x0:]
			for x := 0; x < w; x++ {
				row[x] = uint16(px[y*8+x])
			}
		}
		return
	}
	stride := d.nc * d.bps
	for y := 0; y < h; y++ {
		o := ((y0+y)*d.x+x0)*stride + s.idx*d.bps
		if d.bps == 1 {
			for _, v := range px[y*8 : y*8+w] {
				d.out[o] = byte(v)
				o += stride
			}
			continue
		}
		for _, v := range px[y*8 : y*8+w] {
			d.out[o], d.out[o+1] = byte(v), byte(v>>8)
			o += stride
		}
	}
}

// Constants of the inverse DCT: cos terms scaled by 2^13, as the IJG
// library's integer transform uses them, so that samples match dcmdjpeg's.
const (
	constBits = 13
	fix0298   = 2446  // 0.298631336
	fix0390   = 3196  // 0.390180644
	fix0541   = 4433  // 0.541196100
	fix0765   = 6270  // 0.765366865
	fix0899   = 7373  // 0.899976223
	fix1175   = 9633  // 1.175875602
	fix1501   = 12299 // 1.501321110
	fix1847   = 15137 // 1.847759065
	fix1961   = 16069 // 1.961570560
	fix2053   = 16819 // 2.053119869
	fix2562   = 20995 // 2.562915447
	fix3072   = 25172 // 3.072711026
)

// idct is the separable 8-point inverse DCT of Loeffler, Ligtenberg and
// Moschytz in fixed point (columns, then rows), the accuracy IEEE 1180
// asks for. Intermediate values keep pass1 extra bits (two for 8-bit
// samples, one for 12-bit, so that 32 bits would hold them); outputs are
// level-shifted and clamped to the sample range.
func (d *decoder) idct(in *[64]int32, out *[64]int32, ac bool) {
	pass1 := 2
	if d.prec == 12 {
		pass1 = 1
	}
	center := int32(1) << (d.prec - 1)
	maxv := int32(1)<<d.prec - 1
	if !ac {
		v := clamp((in[0]<<pass1+1<<(pass1+2))>>(pass1+3)+center, maxv)
		for i := range out {
			out[i] = v
		}
		return
	}
	var ws [64]int32
	for col := 0; col < 8; col++ {
		if in[8+col]|in[16+col]|in[24+col]|in[32+col]|in[40+col]|in[48+col]|in[56+col] == 0 {
			v := in[col] << pass1
			for k := 0; k < 8; k++ {
				ws[k*8+col] = v
			}
			continue
		}
		var r [8]int32
		idct8(in[col], in[8+col], in[16+col], in[24+col], in[32+col], in[40+col], in[48+col], in[56+col], constBits-pass1, &r)
		for k := 0; k < 8; k++ {
			ws[k*8+col] = r[k]
		}
	}
	shift := constBits + pass1 + 3
	for row := 0; row < 8; row++ {
		w := ws[row*8 : row*8+8]
		if w[1]|w[2]|w[3]|w[4]|w[5]|w[6]|w[7] == 0 {
			// The full pass gives the same: (w0·2^13 + half) >> shift.
			v := clamp((w[0]+1<<(pass1+2))>>(pass1+3)+center, maxv)
			for k := 0; k < 8; k++ {
				out[row*8+k] = v
			}
			continue
		}
		var r [8]int32
		idct8(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], shift, &r)
		for k := 0; k < 8; k++ {
			out[row*8+k] = clamp(r[k]+center, maxv)
		}
	}
}

// idct8 is one 1-D pass: even part from inputs 0, 2, 4, 6 and odd part
// from 1, 3, 5, 7, each output rounded down by shift bits.
func idct8(i0, i1, i2, i3, i4, i5, i6, i7 int32, shift int, r *[8]int32) {
	// Even part: a rotation of inputs 2 and 6, plus 0 ± 4.
	z1 := (i2 + i6) * fix0541
	e2 := z1 - i6*fix1847
	e3 := z1 + i2*fix0765
	e0 := (i0 + i4) << constBits
	e1 := (i0 - i4) << constBits
	t10, t13 := e0+e3, e0-e3
	t11, t12 := e1+e2, e1-e2

	// Odd part: inputs 7, 5, 3, 1 through the four-way butterfly.
	o0, o1, o2, o3 := i7, i5, i3, i1
	a1, a2, a3, a4 := o0+o3, o1+o2, o0+o2, o1+o3
	a5 := (a3 + a4) * fix1175
	o0 *= fix0298
	o1 *= fix2053
	o2 *= fix3072
	o3 *= fix1501
	a1 *= -fix0899
	a2 *= -fix2562
	a3 = a3*-fix1961 + a5
	a4 = a4*-fix0390 + a5
	o0 += a1 + a3
	o1 += a2 + a4
	o2 += a2 + a3
	o3 += a1 + a4

	half := int32(1) << (shift - 1)
	r[0] = (t10 + o3 + half) >> shift
	r[7] = (t10 - o3 + half) >> shift
	r[1] = (t11 + o2 + half) >> shift
	r[6] = (t11 - o2 + half) >> shift
	r[2] = (t12 + o1 + half) >> shift
	r[5] = (t12 - o1 + half) >> shift
	r[3] = (t13 + o0 + half) >> shift
	r[4] = (t13 - o0 + half) >> shift
}

func clamp(v, maxv int32) int32 {
	if v < 0 {
		return 0
	}
	if v > maxv {
		return maxv
	}
	return v
}
