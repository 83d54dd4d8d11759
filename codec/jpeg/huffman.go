package jpeg

// lutBits is how many leading bits the fast Huffman lookup resolves;
// longer codes take the canonical walk of T.81 F.2.2.3.
const lutBits = 9

// huffman is one decoding table built from DHT's BITS and HUFFVAL lists.
type huffman struct {
	ok bool
	// lut maps the next lutBits bits to length<<8 | value, 0 when the code
	// is longer (or not a code).
	lut [1 << lutBits]uint16
	// maxcode[l] is the largest code of length l, -1 when there is none;
	// valptr[l] indexes vals at the first code of length l, mincode[l].
	maxcode [17]int32
	mincode [17]int32
	valptr  [17]int32
	vals    [256]byte
}

// build makes the table (T.81 C.2 and F.2.2.3). A table whose codes do not
// fit their lengths cannot be decoded and is refused.
func (t *huffman) build(counts [16]int, vals []byte) error {
	*t = huffman{}
	copy(t.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.maxcode[l] = -1
		if code+n > 1<<l {
			return invalidf("Huffman table has more codes of %d bits than fit", l)
		}
		if n > 0 {
			t.valptr[l] = k
			t.mincode[l] = code
			t.maxcode[l] = code + n - 1
			if l <= lutBits {
				for c := code; c < code+n; c++ {
					v := uint16(l)<<8 | uint16(t.vals[k+c-code])
					shift := lutBits - l
					for j := int32(0); j < 1<<shift; j++ {
						t.lut[c<<shift|j] = v
					}
				}
			}
			code += n
			k += n
		}
		code <<= 1
	}
	t.ok = true
	return nil
}

// bitReader reads an entropy-coded segment MSB first, removing stuffed
// zero bytes (T.81 F.1.2.3). At a marker or the end of the input it feeds
// zero bits and counts them in fake, so that decoding stays bounded and a
// scan that uses them is found truncated.
type bitReader struct {
	src  []byte
	pos  int
	acc  uint64 // bits, MSB aligned
	n    int    // valid bits in acc
	fake int    // of those, the trailing bits that are padding
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		if b.fake == 0 && b.pos < len(b.src) {
			c = b.src[b.pos]
			if c != 0xFF {
				b.pos++
			} else if b.pos+1 < len(b.src) && b.src[b.pos+1] == 0 {
				b.pos += 2
			} else {
				c = 0 // a marker: leave it for the caller
				b.fake += 8
			}
		} else {
			b.fake += 8
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports whether decoding used padding bits.
func (b *bitReader) overrun() bool { return b.n < b.fake }

// bits returns the next k bits (k ≤ 16) as an unsigned value.
func (b *bitReader) bits(k int) int32 {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
	}
	v := int32(b.acc >> (64 - k))
	b.acc <<= k
	b.n -= k
	return v
}

// receiveExtend reads a k-bit magnitude category value and sign-extends it
// (T.81 F.2.2.1 RECEIVE and EXTEND).
func (b *bitReader) receiveExtend(k int) int32 {
	v := b.bits(k)
	if k > 0 && v < 1<<(k-1) {
		v += -1<<k + 1
	}
	return v
}

// decode returns the next Huffman-coded value, or -1 for bits that are no
// code of t.
func (b *bitReader) decode(t *huffman) int {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lut[b.acc>>(64-lutBits)]; e != 0 {
		l := int(e >> 8)
		b.acc <<= l
		b.n -= l
		return int(e & 0xFF)
	}
	for l := lutBits + 1; l <= 16; l++ {
		c := int32(b.acc >> (64 - l))
		// c ≥ mincode holds for canonical codes (shorter prefixes were
		// tried first); the check keeps the index safe regardless.
		if c <= t.maxcode[l] && c >= t.mincode[l] {
			b.acc <<= l
			b.n -= l
			return int(t.vals[t.valptr[l]+c-t.mincode[l]])
		}
	}
	return -1
}
