package jpeg

// lossless decodes one scan of Process 14 (T.81 Annex H): each sample is
// a prediction from its decoded neighbours plus a Huffman-coded
// difference, modulo 2^16 and so modulo 2^(P-Pt), the bits a sample has
// before the point transform is undone. Every component has the frame's
// size (frameHeader refuses subsampling), so an MCU is one sample of each
// scan component.
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
		var cur, up [maxComponents][]int32
		for i := range sc {
			cur[i] = lines[(2*i+y%2)*w : (2*i+y%2+1)*w]
			up[i] = lines[(2*i+1-y%2)*w : (2*i+2-y%2)*w]
		}
		for x := 0; x < w; x++ {
			for i := range sc {
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
				c, u := cur[i], up[i]
				var p int32
				switch {
				case x == 0 && first:
					p = initial
				case x == 0:
					p = u[0]
				case first:
					p = c[x-1]
				default:
					p = predict(predictor, c[x-1], u[x], u[x-1])
				}
				c[x] = (p + diff) & mask
			}
		}
		mcu += w
		if b.overrun() {
			return errTruncated
		}
		for i := range sc {
			d.putSamples(sc[i].idx, y, cur[i], pt)
		}
		first = false
	}
	return nil
}

// predict is the prediction of selection value sv from the samples left
// (a), above (b) and above left (c) of the one decoded (T.81 Table H.1).
func predict(sv int, a, b, c int32) int32 {
	switch sv {
	case 1:
		return a
	case 2:
		return b
	case 3:
		return c
	case 4:
		return a + b - c
	case 5:
		return a + (b-c)>>1
	case 6:
		return b + (a-c)>>1
	}
	return (a + b) >> 1
}
