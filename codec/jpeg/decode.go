package jpeg

import (
	"fmt"

	"github.com/imgcloud/gateway/codec"
)

// Decoder decodes the JPEG syntaxes of DICOM (see the package doc). The
// zero value is ready; it holds no state, so one serves many goroutines.
type Decoder struct{}

var _ codec.Decoder = Decoder{}

// Markers (T.81 Table B.1).
const (
	mSOF0 = 0xC0 // baseline DCT
	mSOF1 = 0xC1 // extended sequential DCT, Huffman
	mSOF2 = 0xC2 // progressive DCT, Huffman
	mSOF3 = 0xC3 // lossless (Process 14), Huffman
	mDHT  = 0xC4
	mDAC  = 0xCC // arithmetic conditioning
	mRST0 = 0xD0
	mRST7 = 0xD7
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
)

// maxComponents is what a DICOM frame holds (Frame.Check allows 1 or 3).
const maxComponents = 3

type component struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantisation table
	w, ht  int // samples wide and high: ceil(X·h/hmax), ceil(Y·v/vmax)
	bw, bh int // 8×8 blocks wide and high in a non-interleaved scan
	// plane holds a subsampled component until it is upsampled into the
	// output; components at full resolution are written there directly.
	plane []uint16
	done  bool
}

type decoder struct {
	src  []byte
	pos  int
	f    codec.Frame
	sof  byte // 0 until the frame header is read
	prec int
	x, y int
	nc   int
	comp [maxComponents]component
	hmax int
	vmax int
	ri   int // restart interval in MCUs, 0 for none
	dc   [4]huffman
	ac   [4]huffman
	q    [4][64]int32 // zig-zag order
	qok  [4]bool
	out  []byte
	bps  int // bytes per output sample
	bits bitReader
}

// Decode implements codec.Decoder.
func (Decoder) Decode(src []byte, f codec.Frame) (codec.Image, error) {
	if err := f.Check(); err != nil {
		return codec.Image{}, err
	}
	d := &decoder{src: src, f: f, bps: f.BitsAllocated / 8}
	if err := d.decode(); err != nil {
		return codec.Image{}, fmt.Errorf("decode jpeg: %w", err)
	}
	return d.finish(), nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{codec.ErrInvalid}, args...)...)
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{codec.ErrUnsupported}, args...)...)
}

var errTruncated = invalidf("codestream ends inside a scan")

// decode walks the marker segments (T.81 B.2) until EOI.
func (d *decoder) decode() error {
	if len(d.src) < 2 || d.src[0] != 0xFF || d.src[1] != mSOI {
		return invalidf("codestream does not start with SOI")
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			return d.complete()
		case m == mSOF0 || m == mSOF1 || m == mSOF3:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.frameHeader(m, seg); err != nil {
				return err
			}
		case m == mSOF2:
			return unsupportedf("progressive JPEG")
		case m >= 0xC5 && m <= 0xCF && m != 0xC8 && m != mDAC:
			return unsupportedf("JPEG process of marker SOF%d (hierarchical or arithmetic)", m-0xC0)
		case m == mDAC:
			return unsupportedf("arithmetic coding")
		case m == mDHT:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.huffmanTables(seg); err != nil {
				return err
			}
		case m == mDQT:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.quantTables(seg); err != nil {
				return err
			}
		case m == mDRI:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if len(seg) != 2 {
				return invalidf("DRI of %d bytes", len(seg))
			}
			d.ri = int(seg[0])<<8 | int(seg[1])
		case m == mSOS:
			seg, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.scan(seg); err != nil {
				return err
			}
		case m == mDNL:
			return unsupportedf("DNL (frame height given after the scan)")
		case m >= mRST0 && m <= mRST7:
			return invalidf("RST%d outside a scan", m-mRST0)
		case m == mSOI:
			return invalidf("second SOI")
		default: // APPn, COM, JPG and reserved markers carry a length
			if _, err := d.segment(); err != nil {
				return err
			}
		}
	}
}

// nextMarker skips to the next marker and returns its code. Bytes between
// segments (left after a scan by some encoders) are skipped as IJG does;
// a stream that ends first has no EOI.
func (d *decoder) nextMarker() (byte, error) {
	for d.pos+1 < len(d.src) {
		if d.src[d.pos] != 0xFF {
			d.pos++
			continue
		}
		c := d.src[d.pos+1]
		if c == 0xFF { // fill byte
			d.pos++
			continue
		}
		d.pos += 2
		if c == 0 { // a stuffed byte: data, not a marker
			continue
		}
		return c, nil
	}
	if d.sof != 0 && d.allDone() {
		// Every sample is decoded and only EOI is missing, as some
		// writers leave it: nothing is lost.
		return mEOI, nil
	}
	return 0, invalidf("codestream ends before EOI")
}

// segment returns the payload of the length-prefixed segment at d.pos.
func (d *decoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.src) {
		return nil, invalidf("marker segment truncated")
	}
	n := int(d.src[d.pos])<<8 | int(d.src[d.pos+1])
	if n < 2 || d.pos+n > len(d.src) {
		return nil, invalidf("marker segment of length %d runs past the codestream's %d bytes", n, len(d.src))
	}
	seg := d.src[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

// frameHeader reads SOF (T.81 B.2.2) and checks it against the frame's
// attributes: nothing is allocated for a codestream that contradicts them.
func (d *decoder) frameHeader(m byte, seg []byte) error {
	if d.sof != 0 {
		return invalidf("second frame header")
	}
	if len(seg) < 6 {
		return invalidf("frame header of %d bytes", len(seg))
	}
	d.prec = int(seg[0])
	d.y = int(seg[1])<<8 | int(seg[2])
	d.x = int(seg[3])<<8 | int(seg[4])
	d.nc = int(seg[5])
	if len(seg) != 6+3*d.nc {
		return invalidf("frame header of %d bytes for %d components", len(seg), d.nc)
	}
	switch {
	case m == mSOF3 && (d.prec < 2 || d.prec > 16):
		return invalidf("lossless precision %d (2 to 16)", d.prec)
	case m == mSOF0 && d.prec != 8:
		return invalidf("baseline precision %d (8)", d.prec)
	case m == mSOF1 && d.prec != 8 && d.prec != 12:
		return invalidf("extended precision %d (8 or 12)", d.prec)
	}
	if d.y == 0 {
		return unsupportedf("frame height defined by DNL")
	}
	if d.x != d.f.Columns || d.y != d.f.Rows {
		return invalidf("codestream is %dx%d, the frame %dx%d", d.x, d.y, d.f.Columns, d.f.Rows)
	}
	if d.nc != d.f.Samples {
		return invalidf("codestream has %d components, the frame %d samples per pixel", d.nc, d.f.Samples)
	}
	if d.prec > d.f.BitsAllocated {
		return invalidf("codestream precision %d exceeds %d bits allocated", d.prec, d.f.BitsAllocated)
	}
	d.sof = m
	for i := 0; i < d.nc; i++ {
		c := &d.comp[i]
		c.id = seg[6+3*i]
		c.h = int(seg[7+3*i] >> 4)
		c.v = int(seg[7+3*i] & 15)
		c.tq = int(seg[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return invalidf("component %d sampling %dx%d", c.id, c.h, c.v)
		}
		if c.tq > 3 {
			return invalidf("component %d quantisation table %d", c.id, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comp[j].id == c.id {
				return invalidf("component id %d twice", c.id)
			}
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	if d.nc == 1 {
		// A lone component is not subsampled, whatever its factors say
		// (T.81 A.2.2: a non-interleaved scan ignores them).
		d.comp[0].h, d.comp[0].v, d.hmax, d.vmax = 1, 1, 1, 1
	}
	for i := 0; i < d.nc; i++ {
		c := &d.comp[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return unsupportedf("fractional sampling %dx%d of %dx%d", c.h, c.v, d.hmax, d.vmax)
		}
		if m == mSOF3 && (c.h != d.hmax || c.v != d.vmax) {
			return unsupportedf("subsampled lossless component %d", c.id)
		}
		c.w = (d.x*c.h + d.hmax - 1) / d.hmax
		c.ht = (d.y*c.v + d.vmax - 1) / d.vmax
		c.bw = (c.w + 7) / 8
		c.bh = (c.ht + 7) / 8
	}
	return nil
}

// huffmanTables reads DHT (T.81 B.2.4.2).
func (d *decoder) huffmanTables(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return invalidf("Huffman table segment truncated")
		}
		class, id := seg[0]>>4, seg[0]&15
		if class > 1 || id > 3 {
			return invalidf("Huffman table class %d id %d", class, id)
		}
		var counts [16]int
		n := 0
		for i := range counts {
			counts[i] = int(seg[1+i])
			n += counts[i]
		}
		if n > 256 || len(seg) < 17+n {
			return invalidf("Huffman table of %d codes in %d bytes", n, len(seg))
		}
		t := &d.dc[id]
		if class == 1 {
			t = &d.ac[id]
		}
		if err := t.build(counts, seg[17:17+n]); err != nil {
			return err
		}
		seg = seg[17+n:]
	}
	return nil
}

// quantTables reads DQT (T.81 B.2.4.1).
func (d *decoder) quantTables(seg []byte) error {
	for len(seg) > 0 {
		pq, id := seg[0]>>4, seg[0]&15
		if pq > 1 || id > 3 {
			return invalidf("quantisation table precision %d id %d", pq, id)
		}
		n := 64 * (1 + int(pq))
		if len(seg) < 1+n {
			return invalidf("quantisation table segment truncated")
		}
		for k := 0; k < 64; k++ {
			if pq == 0 {
				d.q[id][k] = int32(seg[1+k])
			} else {
				d.q[id][k] = int32(seg[1+2*k])<<8 | int32(seg[2+2*k])
			}
		}
		d.qok[id] = true
		seg = seg[1+n:]
	}
	return nil
}

// scanComp is one component of a scan with the tables it uses.
type scanComp struct {
	c      *component
	idx    int // position in the frame, and so in each output pixel
	dc, ac *huffman
	q      *[64]int32
	pred   int32
}

// scan reads SOS (T.81 B.2.3) and decodes the entropy-coded data after it.
func (d *decoder) scan(seg []byte) error {
	if d.sof == 0 {
		return invalidf("scan before the frame header")
	}
	if len(seg) < 1 {
		return invalidf("empty scan header")
	}
	ns := int(seg[0])
	if ns < 1 || ns > d.nc || len(seg) != 4+2*ns {
		return invalidf("scan header of %d bytes for %d components", len(seg), ns)
	}
	var sc [maxComponents]scanComp
	blocks := 0
	for i := 0; i < ns; i++ {
		id, tables := seg[1+2*i], seg[2+2*i]
		k := -1
		for j := 0; j < d.nc; j++ {
			if d.comp[j].id == id {
				k = j
			}
		}
		if k < 0 {
			return invalidf("scan names component %d, not in the frame", id)
		}
		c := &d.comp[k]
		if c.done {
			return invalidf("component %d in two scans", id)
		}
		for j := 0; j < i; j++ {
			if sc[j].c == c {
				return invalidf("component %d twice in a scan", id)
			}
		}
		td, ta := tables>>4, tables&15
		if td > 3 || ta > 3 {
			return invalidf("component %d Huffman tables %d/%d", id, td, ta)
		}
		sc[i] = scanComp{c: c, idx: k, dc: &d.dc[td], ac: &d.ac[ta], q: &d.q[c.tq]}
		if !sc[i].dc.ok {
			return invalidf("component %d uses undefined DC table %d", id, td)
		}
		if d.sof != mSOF3 {
			if !sc[i].ac.ok {
				return invalidf("component %d uses undefined AC table %d", id, ta)
			}
			if !d.qok[c.tq] {
				return invalidf("component %d uses undefined quantisation table %d", id, c.tq)
			}
		}
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return invalidf("MCU of %d blocks (at most 10)", blocks)
	}
	ss, se, ah, al := int(seg[1+2*ns]), int(seg[2+2*ns]), int(seg[3+2*ns]>>4), int(seg[3+2*ns]&15)
	// Every sample of a lossless scan takes a code of at least one bit,
	// every block of a DCT scan at least two (DC and EOB): a scan shorter
	// than that is truncated, and refusing it before the output is
	// allocated bounds memory by the input's size, not only the frame's.
	var least int64
	if d.sof == mSOF3 {
		least = int64(ns) * int64(d.x) * int64(d.y)
	} else if ns == 1 {
		least = 2 * int64(sc[0].c.bw) * int64(sc[0].c.bh)
	} else {
		mcus := int64((d.x+8*d.hmax-1)/(8*d.hmax)) * int64((d.y+8*d.vmax-1)/(8*d.vmax))
		least = 2 * mcus * int64(blocks)
	}
	if 8*int64(len(d.src)-d.pos) < least {
		return invalidf("scan of %d bytes cannot code %dx%d samples", len(d.src)-d.pos, d.x, d.y)
	}
	if d.out == nil {
		d.out = make([]byte, d.f.Size())
	}
	d.bits = bitReader{src: d.src, pos: d.pos}
	var err error
	if d.sof == mSOF3 {
		// Ss is the selection value (predictor), Al the point transform.
		if ss < 1 || ss > 7 || se != 0 || ah != 0 || al >= d.prec {
			return invalidf("lossless scan with predictor %d, Se %d, Ah %d, Al %d", ss, se, ah, al)
		}
		err = d.lossless(sc[:ns], ss, al)
	} else {
		if ss != 0 || se != 63 || ah != 0 || al != 0 {
			return invalidf("sequential scan with spectral selection %d-%d, Ah %d, Al %d", ss, se, ah, al)
		}
		err = d.sequential(sc[:ns])
	}
	if err != nil {
		return err
	}
	for i := 0; i < ns; i++ {
		sc[i].c.done = true
	}
	d.pos = d.bits.pos
	return nil
}

func (d *decoder) allDone() bool {
	for i := 0; i < d.nc; i++ {
		if !d.comp[i].done {
			return false
		}
	}
	return true
}

// complete is called at EOI: every component must have been decoded.
func (d *decoder) complete() error {
	if d.sof == 0 {
		return invalidf("no frame header before EOI")
	}
	if !d.allDone() {
		return invalidf("EOI before every component was decoded")
	}
	return nil
}

// restart checks for the RST marker that must follow an interval (T.81
// E.2.4) and resets the bit reader; the caller resets its predictions.
func (d *decoder) restart(n int) error {
	b := &d.bits
	// All that may be left is the padding of the interval's last byte.
	if b.n-b.fake >= 8 {
		return invalidf("restart interval %d holds more data than it codes", n)
	}
	p := b.pos
	for p < len(b.src) && b.src[p] == 0xFF && p+1 < len(b.src) && b.src[p+1] == 0xFF {
		p++
	}
	want := byte(mRST0 + n%8)
	if p+1 >= len(b.src) || b.src[p] != 0xFF || b.src[p+1] != want {
		return invalidf("restart marker RST%d missing after interval %d", n%8, n)
	}
	*b = bitReader{src: b.src, pos: p + 2}
	return nil
}
