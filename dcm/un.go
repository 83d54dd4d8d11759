package dcm

import (
	"errors"
	"fmt"
	"io"
)

// PS3.5 6.2.2: an element sent with VR UN whose tag the data dictionary
// knows is read with the dictionary's VR, its value being encoded as in
// implicit VR little endian; an undefined-length one is then a sequence.
// Modalities and routers that do not know an attribute (often
// (0040,0250) PerformedProcedureStepEndDate, or a whole PatientName)
// forward it as UN, and every other archive shows the real VR.

// knownUN applies the rule to the explicit UN element h of lv. It reports
// whether it consumed h; otherwise the caller goes on with h, whose VR may
// now be the dictionary's.
func (sc *scanner) knownUN(lv *level, h *elemHeader) (bool, error) {
	vr := implicitVR(h.tag)
	if isPrivateCreator(h.tag) {
		vr = "LO"
	}
	switch {
	case vr == "UN":
		return false, nil
	case vr == "SQ" && h.vl == undefinedLength:
		if lv.depth+1 > sc.lim.MaxDepth {
			return true, invalidf("sequence nesting deeper than %d at %s", sc.lim.MaxDepth, tagString(h.tag))
		}
		return true, sc.openSequence(lv, h, elemPath(lv, h), -1, implicitLE)
	case vr == "SQ":
		if int64(h.vl) > sc.lim.MaxHeaderBytes-sc.used || lv.depth+1 > sc.lim.MaxDepth {
			sc.warn("%s has VR UN and is a sequence in the data dictionary, but is too large or too deeply nested to be read as one: kept as UN", tagString(h.tag))
			return false, nil
		}
		return true, sc.unSequence(lv, h)
	case h.vl == undefinedLength:
		return false, nil // kept as an opaque value
	}
	if w := vrTable[vr].word; w > 1 && h.vl%uint32(w) != 0 {
		sc.warn("%s has VR UN and %d bytes, which is not a whole number of values of its dictionary VR %s: kept as UN", tagString(h.tag), h.vl, vr)
		return false, nil
	}
	h.vr = vr
	return false, nil
}

// unSequence reads the defined-length UN element h, known as a sequence,
// as one: its value is parsed in memory on its own, so that bytes that are
// not items leave it UN (with a warning) instead of refusing the file.
func (sc *scanner) unSequence(lv *level, h *elemHeader) error {
	if err := sc.checkFits(lv, h); err != nil {
		return err
	}
	n := int64(h.vl)
	if err := sc.charge(n); err != nil {
		return err
	}
	base := sc.src.pos
	buf := make([]byte, n)
	if err := sc.readValue(h, buf); err != nil {
		return err
	}
	path := elemPath(lv, h)
	// Positions of the sub-walk are those of the stream, so that bulk
	// values inside (an icon's pixel data) point at the stored bytes.
	sub := &scanner{src: newFileSource(memAt{b: buf, base: base}, base, base+n), lim: sc.lim, used: sc.used}
	sub.res.own = map[string][]ownElem{}
	sub.stack = []level{{kind: kindDataset, end: -1, bound: base + n, sy: implicitLE, path: lv.path, depth: lv.depth}}
	err := sub.openSequence(&sub.stack[0], h, path, n, implicitLE)
	if err == nil {
		err = sub.run()
	}
	sub.src.release()
	var inv *InvalidError
	if errors.As(err, &inv) {
		sc.warn("%s has VR UN and is a sequence in the data dictionary, but its bytes are not items (%s): kept as UN", tagString(h.tag), inv.Reason)
		if err := sc.charge(elementOverhead); err != nil {
			return err
		}
		e := ownElem{tag: h.tag, vr: "UN", value: buf}
		if n > int64(sc.lim.InlineBinaryMax) {
			e = ownElem{tag: h.tag, vr: "UN", bulk: true, path: path}
			if err := sc.addBulk(path, Range{Offset: base, Length: n}); err != nil {
				return err
			}
		}
		sc.res.own[lv.path] = append(sc.res.own[lv.path], e)
		return nil
	}
	if err != nil {
		return err
	}
	sc.used = sub.used
	for k, v := range sub.res.own {
		sc.res.own[k] = append(sc.res.own[k], v...)
	}
	sc.res.bulk = append(sc.res.bulk, sub.res.bulk...)
	sc.res.warnings = append(sc.res.warnings, sub.res.warnings...)
	return nil
}

// warn records a Header.Warnings sentence.
func (sc *scanner) warn(format string, args ...any) {
	if len(sc.res.warnings) < maxWarnings {
		sc.res.warnings = append(sc.res.warnings, fmt.Sprintf(format, args...))
	}
}

// maxWarnings bounds the warnings kept for one file.
const maxWarnings = 100

// memAt reads a value held in memory as the stream positions
// [base, base+len(b)).
type memAt struct {
	b    []byte
	base int64
}

func (m memAt) ReadAt(p []byte, off int64) (int, error) {
	off -= m.base
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
