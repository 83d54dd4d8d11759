package dcm

import (
	"errors"
	"strconv"
)

// The scanner walks every element of the data set without recursion,
// checks that the structure is sound and within Limits, and records every
// element by the path of the data set holding it: small values are read
// into memory (one arena per walk), bulk values (pixel data and long
// binary values) are recorded as BulkRefs and never read. The converter
// (values.go) then builds the Dataset from these records, so the file is
// parsed once.
//
// Undefined-length UN elements (private sequences of an implicit VR file)
// and encapsulated non-pixel values are "opaque": their structure is
// checked, but they are kept as one binary value.

// elementOverhead is what holding one element in memory is taken to cost,
// on top of its value, so that millions of empty elements count too.
const elementOverhead = 64

// maxFrames bounds NumberOfFrames.
const maxFrames = 100000

// ownElem is one element as the scanner found it.
type ownElem struct {
	tag   uint32
	vr    string
	value []byte // the raw value, when held in memory
	bulk  bool   // the value stays in the file; BulkDataURI is the path
	items int    // SQ: how many items it has (their paths are path/0, path/1, ...)
	path  string // bulk values and sequences only
}

// fragment is one item of encapsulated pixel data.
type fragment struct {
	hdr   int64 // stream position of the item header
	val   Range // the item's value
	head  [4]byte
	headN int
}

// pixelInfo locates the top-level PixelData.
type pixelInfo struct {
	present      bool
	encapsulated bool
	value        Range // native: the value; encapsulated: all items, delimiter excluded
	bot          []byte
	// eot and eotLengths are the Extended Offset Table (7FE0,0001) and
	// its lengths (7FE0,0002), 64-bit values, when the file has them.
	eot, eotLengths []byte
	frags           []fragment
	bulkIdx         int // index of its BulkRef in scanResult.bulk
}

// scanResult is what the scanner learned.
type scanResult struct {
	own   map[string][]ownElem // by the path of the data set holding them ("" is the top level)
	bulk  []BulkRef
	pixel pixelInfo
	// warnings are Header.Warnings sentences.
	warnings []string
}

// levelKind is what a level of the walk is.
type levelKind uint8

const (
	kindDataset levelKind = iota
	kindSequence
	kindItem
	kindFragments
)

// level is one open container of the walk.
type level struct {
	kind  levelKind
	end   int64 // end position of a defined length, or -1
	bound int64 // position nothing inside may pass (nearest defined end)
	sy    syntax
	tag   uint32 // sequence / fragments: the element's tag
	path  string // sequence: element path; item: item path; top level: ""
	items int
	depth int // sequence nesting depth

	opaque bool // inside an own value: structure only
	// root of an own opaque value: the element to finish when it closes.
	root *ownElem
	// start of the value of an opaque root
	valueStart int64
	topPixel   bool

	// sequence: where its ownElem is (own[seqOf][seqAt]), to count items
	seqOf string
	seqAt int
}

// scanner is the state of one walk.
type scanner struct {
	src  *source
	lim  Limits
	used int64
	res  scanResult
	// stack holds the open containers, the top level first.
	stack []level
	// arena holds small values, so that each does not need an allocation.
	arena []byte
}

// scanDataSet walks the data set read by src, encoded in sy.
func scanDataSet(src *source, sy syntax, lim Limits, used int64) (*scanResult, error) {
	sc := &scanner{src: src, lim: lim, used: used}
	sc.res.own = map[string][]ownElem{}
	sc.stack = []level{{kind: kindDataset, end: -1, bound: src.end, sy: sy}}
	if err := sc.run(); err != nil {
		return nil, err
	}
	return &sc.res, nil
}

func (sc *scanner) charge(n int64) error {
	sc.used += n
	if sc.used > sc.lim.MaxHeaderBytes {
		return invalidf("metadata needs more than %d bytes of memory (Limits.MaxHeaderBytes)", sc.lim.MaxHeaderBytes)
	}
	return nil
}

func (sc *scanner) top() *level { return &sc.stack[len(sc.stack)-1] }

func (sc *scanner) run() error {
	for {
		lv := sc.top()
		pos := sc.src.pos
		if lv.end >= 0 {
			if pos == lv.end {
				if err := sc.close(); err != nil {
					return err
				}
				continue
			}
			if pos > lv.end {
				return invalidf("%s overruns its length", sc.describe(lv))
			}
		}
		if lv.kind == kindDataset {
			eof, err := sc.src.atEOF()
			if err != nil {
				return err
			}
			if eof {
				return nil
			}
		}
		h, err := readElemHeader(sc.src, lv.sy)
		if err != nil {
			if errors.Is(err, errShort) {
				return invalidf("file ends inside %s (at offset %d)", sc.describe(lv), pos)
			}
			return err
		}
		if sc.src.pos > lv.bound {
			return invalidf("element %s at offset %d crosses the end of %s", tagString(h.tag), pos, sc.describe(lv))
		}
		switch lv.kind {
		case kindSequence:
			err = sc.inSequence(lv, &h)
		case kindFragments:
			err = sc.inFragments(lv, &h)
		default:
			err = sc.inDataSet(lv, &h)
		}
		if err != nil {
			return err
		}
	}
}

// describe names the container lv for messages.
func (sc *scanner) describe(lv *level) string {
	switch lv.kind {
	case kindSequence:
		return "sequence " + tagString(lv.tag)
	case kindItem:
		return "item " + lv.path
	case kindFragments:
		return "encapsulated value " + tagString(lv.tag)
	}
	return "the data set"
}

// take returns n bytes of the arena for a value.
func (sc *scanner) take(n uint32) []byte {
	if int(n) > cap(sc.arena)-len(sc.arena) {
		if n > 16<<10 {
			return make([]byte, n)
		}
		// Chunks grow from 4 KiB: most headers need a few KiB in all.
		sc.arena = make([]byte, 0, max(int(n), min(max(4<<10, 2*cap(sc.arena)), 64<<10)))
	}
	k := len(sc.arena)
	sc.arena = sc.arena[:k+int(n)]
	return sc.arena[k : k+int(n) : k+int(n)]
}

// inSequence handles an item or the end of a sequence.
func (sc *scanner) inSequence(lv *level, h *elemHeader) error {
	switch h.tag {
	case tagItem:
		child := level{
			kind: kindItem, end: -1, bound: lv.bound, sy: lv.sy, tag: lv.tag,
			path:  lv.path + "/" + strconv.Itoa(lv.items),
			depth: lv.depth, opaque: lv.opaque,
		}
		lv.items++
		if h.vl != undefinedLength {
			if err := sc.checkFits(lv, h); err != nil {
				return err
			}
			child.end = sc.src.pos + int64(h.vl)
			child.bound = child.end
		}
		if !lv.opaque {
			if err := sc.charge(elementOverhead); err != nil {
				return err
			}
			sc.res.own[lv.seqOf][lv.seqAt].items++
		}
		sc.stack = append(sc.stack, child)
		return nil
	case tagSequenceDelimitation:
		if lv.end >= 0 {
			return invalidf("sequence delimiter inside defined-length sequence %s", tagString(lv.tag))
		}
		if h.vl != 0 {
			return invalidf("sequence delimiter of %s has length %d, want 0", tagString(lv.tag), h.vl)
		}
		return sc.close()
	}
	return invalidf("element %s found in sequence %s where an item was expected", tagString(h.tag), tagString(lv.tag))
}

// inFragments handles one item of an encapsulated value, or its end.
func (sc *scanner) inFragments(lv *level, h *elemHeader) error {
	switch h.tag {
	case tagItem:
		if h.vl == undefinedLength {
			return invalidf("encapsulated value %s has an item of undefined length", tagString(lv.tag))
		}
		if err := sc.checkFits(lv, h); err != nil {
			return err
		}
		first := lv.items == 0
		lv.items++
		if !lv.topPixel {
			return sc.skipValue(h)
		}
		if err := sc.charge(48); err != nil {
			return err
		}
		if first { // Basic Offset Table
			if h.vl%4 != 0 || h.vl > 4*maxFrames {
				return invalidf("basic offset table of %d bytes is not a list of at most %d offsets", h.vl, maxFrames)
			}
			if err := sc.charge(int64(h.vl)); err != nil {
				return err
			}
			sc.res.pixel.bot = make([]byte, h.vl)
			return sc.readValue(h, sc.res.pixel.bot)
		}
		f := fragment{hdr: h.start, val: Range{Offset: sc.src.pos, Length: int64(h.vl)}}
		f.headN = int(min(h.vl, 4))
		if err := sc.readValue(h, f.head[:f.headN]); err != nil {
			return err
		}
		if err := sc.skipValueN(h, int64(h.vl)-int64(f.headN)); err != nil {
			return err
		}
		sc.res.pixel.frags = append(sc.res.pixel.frags, f)
		return nil
	case tagSequenceDelimitation:
		if h.vl != 0 {
			return invalidf("sequence delimiter of %s has length %d, want 0", tagString(lv.tag), h.vl)
		}
		if lv.topPixel && lv.items == 0 {
			return invalidf("encapsulated pixel data has no basic offset table item")
		}
		return sc.close()
	}
	return invalidf("element %s found in encapsulated value %s where an item was expected", tagString(h.tag), tagString(lv.tag))
}

// inDataSet handles one element of the top level or of an item.
func (sc *scanner) inDataSet(lv *level, h *elemHeader) error {
	if h.tag>>16 == 0xFFFE {
		if h.tag == tagItemDelimitation && lv.kind == kindItem && lv.end < 0 {
			if h.vl != 0 {
				return invalidf("item delimiter of %s has length %d, want 0", lv.path, h.vl)
			}
			return sc.close()
		}
		return invalidf("unexpected %s in %s at offset %d", tagString(h.tag), sc.describe(lv), h.start)
	}
	isPixel := isPixelTag(h.tag)
	if isPixel && !vrTable[h.vr].binary {
		return invalidf("pixel data %s has VR %s", tagString(h.tag), h.vr)
	}
	// In implicit VR, UN already means the dictionary does not know it.
	if h.vr == "UN" && !lv.sy.implicit && !lv.opaque && !isPixel {
		if done, err := sc.knownUN(lv, h); done || err != nil {
			return err
		}
	}
	topPixel := h.tag == tagPixelData && lv.kind == kindDataset
	if topPixel {
		if sc.res.pixel.present {
			return invalidf("pixel data appears twice")
		}
		sc.res.pixel.present = true
	}

	if h.vl == undefinedLength {
		return sc.openUndefined(lv, h, elemPath(lv, h), topPixel)
	}
	if err := sc.checkFits(lv, h); err != nil {
		return err
	}
	info := vrTable[h.vr]
	if info.word > 1 && h.vl%uint32(info.word) != 0 {
		return invalidf("element %s with VR %s has length %d, not a multiple of %d", tagString(h.tag), h.vr, h.vl, info.word)
	}
	if h.vr == "SQ" {
		return sc.openSequence(lv, h, elemPath(lv, h), int64(h.vl), lv.sy)
	}
	if lv.opaque {
		return sc.skipValue(h)
	}
	if err := sc.charge(elementOverhead); err != nil {
		return err
	}
	e := ownElem{tag: h.tag, vr: h.vr}
	eot := lv.kind == kindDataset && (h.tag == tagExtendedOffsetTable || h.tag == tagExtendedOffsetTableLengths) && info.binary
	if eot {
		// Kept for the frame table whatever its size: at most 8 bytes a frame.
		if h.vl%8 != 0 || h.vl > 8*maxFrames {
			return invalidf("%s of %d bytes is not a list of at most %d 64-bit values", tagString(h.tag), h.vl, maxFrames)
		}
		if err := sc.charge(int64(h.vl)); err != nil {
			return err
		}
	}
	if info.binary && (isPixel || int64(h.vl) > int64(sc.lim.InlineBinaryMax)) {
		r := Range{Offset: sc.src.pos, Length: int64(h.vl)}
		e.path = elemPath(lv, h)
		if err := sc.addBulk(e.path, r); err != nil {
			return err
		}
		if topPixel {
			sc.res.pixel.value, sc.res.pixel.bulkIdx = r, len(sc.res.bulk)-1
		}
		e.bulk = true
		if eot {
			b := make([]byte, h.vl)
			if err := sc.readValue(h, b); err != nil {
				return err
			}
			sc.keepEOT(h.tag, b)
		} else if err := sc.skipValue(h); err != nil {
			return err
		}
	} else {
		if err := sc.charge(int64(h.vl)); err != nil {
			return err
		}
		e.value = sc.take(h.vl)
		if err := sc.readValue(h, e.value); err != nil {
			return err
		}
		if eot {
			sc.keepEOT(h.tag, e.value)
		}
	}
	sc.res.own[lv.path] = append(sc.res.own[lv.path], e)
	return nil
}

// keepEOT records the top-level Extended Offset Table or its lengths.
func (sc *scanner) keepEOT(tag uint32, b []byte) {
	if tag == tagExtendedOffsetTable {
		sc.res.pixel.eot = b
	} else {
		sc.res.pixel.eotLengths = b
	}
}

// elemPath is the path of element h in lv ("00540016/0/00181072"): only
// bulk values and containers need one.
func elemPath(lv *level, h *elemHeader) string {
	if lv.path == "" {
		return tagKey(h.tag)
	}
	return lv.path + "/" + tagKey(h.tag)
}

// openUndefined starts an undefined-length element: a sequence, a
// private sequence of VR UN, or an encapsulated value.
func (sc *scanner) openUndefined(lv *level, h *elemHeader, path string, topPixel bool) error {
	switch h.vr {
	case "SQ":
		if h.tag == tagSpecificCharacterSet {
			break
		}
		return sc.openSequence(lv, h, path, -1, lv.sy)
	case "UN":
		if topPixel {
			break
		}
		return sc.openOpaque(lv, h, path, kindSequence)
	case "OB", "OW":
		if topPixel {
			if err := sc.addBulk(path, Range{Offset: sc.src.pos}); err != nil {
				return err
			}
			p := &sc.res.pixel
			p.encapsulated, p.value.Offset, p.bulkIdx = true, sc.src.pos, len(sc.res.bulk)-1
			sc.res.own[lv.path] = append(sc.res.own[lv.path], ownElem{tag: h.tag, vr: h.vr, bulk: true, path: path})
			sc.stack = append(sc.stack, level{
				kind: kindFragments, end: -1, bound: lv.bound, sy: lv.sy, tag: h.tag,
				path: path, depth: lv.depth, opaque: true, topPixel: true,
			})
			return nil
		}
		return sc.openOpaque(lv, h, path, kindFragments)
	}
	return invalidf("element %s with VR %s has undefined length", tagString(h.tag), h.vr)
}

// openSequence starts an SQ element of length n (-1: undefined) whose
// items are encoded in sy.
func (sc *scanner) openSequence(lv *level, h *elemHeader, path string, n int64, sy syntax) error {
	if lv.depth+1 > sc.lim.MaxDepth {
		return invalidf("sequence nesting deeper than %d at %s", sc.lim.MaxDepth, tagString(h.tag))
	}
	child := level{
		kind: kindSequence, end: -1, bound: lv.bound, sy: sy, tag: h.tag,
		path: path, depth: lv.depth + 1, opaque: lv.opaque,
	}
	if n >= 0 {
		child.end = sc.src.pos + n
		child.bound = child.end
	}
	if !lv.opaque {
		if err := sc.charge(elementOverhead); err != nil {
			return err
		}
		child.seqOf, child.seqAt = lv.path, len(sc.res.own[lv.path])
		sc.res.own[lv.path] = append(sc.res.own[lv.path], ownElem{tag: h.tag, vr: "SQ", path: path})
	}
	sc.stack = append(sc.stack, child)
	return nil
}

// openOpaque starts an undefined-length own value whose items are walked
// but kept as one binary value.
func (sc *scanner) openOpaque(lv *level, h *elemHeader, path string, kind levelKind) error {
	child := level{
		kind: kind, end: -1, bound: lv.bound, sy: lv.sy, tag: h.tag,
		path: path, depth: lv.depth, opaque: true,
	}
	if kind == kindSequence {
		// PS3.5 6.2.2: an undefined-length UN value is implicit VR little endian.
		child.sy = implicitLE
		if lv.depth+1 > sc.lim.MaxDepth {
			return invalidf("sequence nesting deeper than %d at %s", sc.lim.MaxDepth, tagString(h.tag))
		}
		child.depth++
	}
	if !lv.opaque {
		if err := sc.charge(elementOverhead); err != nil {
			return err
		}
		child.root = &ownElem{tag: h.tag, vr: h.vr, path: path}
		child.valueStart = sc.src.pos
		// Record the value (and its 8-byte delimiter) when it may be
		// inlined; pixel data never is.
		max := sc.lim.InlineBinaryMax + 8
		if isPixelTag(h.tag) {
			max = -1
		}
		sc.src.startRecording(max)
	}
	sc.stack = append(sc.stack, child)
	return nil
}

// close ends the innermost container.
func (sc *scanner) close() error {
	lv := sc.top()
	switch {
	case lv.topPixel:
		// The value ends before the 8-byte sequence delimiter just read.
		p := &sc.res.pixel
		p.value.Length = sc.src.pos - 8 - p.value.Offset
		sc.res.bulk[p.bulkIdx].Range = p.value
	case lv.root != nil:
		e := *lv.root
		r := Range{Offset: lv.valueStart, Length: sc.src.pos - 8 - lv.valueStart}
		rec, ok := sc.src.stopRecording()
		if ok && int64(len(rec))-8 <= int64(sc.lim.InlineBinaryMax) {
			if err := sc.charge(int64(len(rec))); err != nil {
				return err
			}
			e.value = rec[:len(rec)-8]
		} else {
			if err := sc.addBulk(e.path, r); err != nil {
				return err
			}
			e.bulk = true
		}
		parent := &sc.stack[len(sc.stack)-2]
		sc.res.own[parent.path] = append(sc.res.own[parent.path], e)
	}
	sc.stack = sc.stack[:len(sc.stack)-1]
	return nil
}

func (sc *scanner) addBulk(path string, r Range) error {
	if err := sc.charge(elementOverhead + int64(len(path))); err != nil {
		return err
	}
	sc.res.bulk = append(sc.res.bulk, BulkRef{Path: path, Range: r})
	return nil
}

// checkFits checks that the value of h fits in what remains of lv and of
// the stream.
func (sc *scanner) checkFits(lv *level, h *elemHeader) error {
	n := int64(h.vl)
	if rem := lv.bound - sc.src.pos; n > rem {
		if lv.bound == sc.src.end && !sc.src.deflated {
			return invalidf("element %s declares %d bytes but only %d remain", tagString(h.tag), n, rem)
		}
		if lv.bound == sc.src.end {
			return invalidf("element %s declares %d bytes, more than the inflated data set may hold", tagString(h.tag), n)
		}
		return invalidf("element %s declares %d bytes but only %d remain in %s", tagString(h.tag), n, rem, sc.describe(lv))
	}
	return nil
}

func (sc *scanner) readValue(h *elemHeader, b []byte) error {
	if err := sc.src.readFull(b); err != nil {
		return sc.valueErr(h, err)
	}
	return nil
}

func (sc *scanner) skipValue(h *elemHeader) error { return sc.skipValueN(h, int64(h.vl)) }

func (sc *scanner) skipValueN(h *elemHeader, n int64) error {
	if err := sc.src.skip(n); err != nil {
		return sc.valueErr(h, err)
	}
	return nil
}

func (sc *scanner) valueErr(h *elemHeader, err error) error {
	if errors.Is(err, errShort) {
		return invalidf("file ends inside the value of element %s (%d bytes declared at offset %d)", tagString(h.tag), h.vl, h.start)
	}
	return err
}

// isPixelTag reports whether t is one of the pixel data elements, whose
// values are always bulk.
func isPixelTag(t uint32) bool {
	return t == tagPixelData || t == tagFloatPixelData || t == tagDoubleFloatPixelData
}

// isPrivateCreator reports whether t is a private creator (gggg,0010-00FF
// in an odd group).
func isPrivateCreator(t uint32) bool {
	return t>>16%2 == 1 && t&0xFFFF >= 0x10 && t&0xFFFF <= 0xFF
}

// elemHeader is one element, item or delimiter header.
type elemHeader struct {
	tag   uint32
	vr    string // "" for items and delimiters
	vl    uint32
	start int64 // stream position of the header
}

// readElemHeader reads the header at the current position.
func readElemHeader(s *source, sy syntax) (elemHeader, error) {
	h := elemHeader{start: s.pos}
	b, err := s.read(4)
	if err != nil {
		return h, err
	}
	bo := sy.order()
	h.tag = uint32(bo.Uint16(b))<<16 | uint32(bo.Uint16(b[2:]))
	switch {
	case h.tag>>16 == 0xFFFE || sy.implicit:
		if b, err = s.read(4); err != nil {
			return h, err
		}
		h.vl = bo.Uint32(b)
		switch {
		case h.tag>>16 == 0xFFFE:
		case isPrivateCreator(h.tag):
			h.vr = "LO"
		default:
			h.vr = implicitVR(h.tag)
		}
		return h, nil
	}
	if b, err = s.read(2); err != nil {
		return h, err
	}
	h.vr = vrName(b)
	info, ok := vrTable[h.vr]
	if !ok {
		return h, invalidf("element %s at offset %d has unknown VR %q", tagString(h.tag), h.start, h.vr)
	}
	if !info.long {
		if b, err = s.read(2); err != nil {
			return h, err
		}
		h.vl = uint32(bo.Uint16(b))
		if h.vl == 0xFFFF {
			return h, invalidf("element %s with VR %s has length 0xFFFF", tagString(h.tag), h.vr)
		}
		return h, nil
	}
	if b, err = s.read(6); err != nil {
		return h, err
	}
	h.vl = bo.Uint32(b[2:])
	return h, nil
}
