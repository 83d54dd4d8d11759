package jpeg

// lossless decodes one scan of Process 14 (T.81 Annex H): each sample is
// a prediction from its decoded neighbours plus a Huffman-coded
// difference, modulo 2^16. Every component has the frame's size (frameHeader
// refuses subsampling), so an MCU is one sample of each scan component.
func (d *decoder) lossless(sc []scanComp, predictor, pt int) error {
	w := d.x
	if d.ri > 0 && d.ri%w != 0 {
		// T.81 H.1.2.1 defines the predictions of an interval's first
		// line; intervals that start inside a line have none that
		// encoders agree on.
		return unsupportedf("lossless restart interval %d is not a multiple of the %d-sample line", d.ri, w)
	}
	mask := int32(1)<<(d.prec-pt) - 1
	initial := int32(1) << (d.prec - pt - 1)
	// Two lines per component: the one above and the one being decoded.
	lines := make([]int32, 2*len(sc)*w)
	mcu, interval := 0, 0
	first := true // the line is the first of the scan or of an interval
	b := &d.bits
	for y := 0; y < d.y; y++ {
		if d.ri > 0 && mcu > 0 && mcu%d.ri == 0 {
			interval++
			if err := d.restart(interval - 1); err != nil {
				return err
			}
			first = true
		}
		for x := 0; x < w; x++ {
			for i := range sc {
				cur := lines[(2*i+y%2)*w:]
				up := lines[(2*i+1-y%2)*w:]
				t := b.decode(sc[i].dc)
				var diff int32
				switch {
				case t < 0 || t > 16:
					return invalidf("lossless difference category %d", t)
				case t == 16:
					diff = 32768
				default:
					diff = b.receiveExtend(t)
				}
				var p int32
				switch {
				case first && x == 0:
					p = initial
				case first:
					p = cur[x-1]
				case x == 0:
					p = up[0]
				default:
					ra, rb, rc := cur[x-1], up[x], up[x-1]
					switch predictor {
					case 1:
						p = ra
					case 2:
						p = rb
					case 3:
						p = rc
					case 4:
						p = ra + rb - rc
					case 5:
						p = ra + (rb-rc)>>1
					case 6:
						p = rb + (ra-rc)>>1
					case 7:
						p = (ra + rb) >> 1
					}
				}
				cur[x] = (p + diff) & mask
			}
			mcu++
		}
		if b.overrun() {
			return errTruncated
		}
		for i := range sc {
			d.putLine(sc[i].idx, y, lines[(2*i+y%2)*w:(2*i+y%2+1)*w], pt)
		}
		first = false
	}
	return nil
}

// putLine writes one decoded line of component c into the output, shifted
// back by the point transform.
func (d *decoder) putLine(c, y int, line []int32, pt int) {
	stride := d.nc * d.bps
	o := y*d.x*stride + c*d.bps
	if d.bps == 1 {
		for _, v := range line {
			d.out[o] = byte(v << pt)
			o += stride
		}
		return
	}
	for _, v := range line {
		v <<= pt
		d.out[o] = byte(v)
		d.out[o+1] = byte(v >> 8)
		o += stride
	}
}
