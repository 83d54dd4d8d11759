package dcm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// libTestdata is the testdata folder of github.com/suyashkumar/dicom, which
// ships six real DICOM files.
var libTestdata = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/suyashkumar/dicom").Output()
	if err != nil {
		return "", err
	}
	return filepath.Join(strings.TrimSpace(string(out)), "testdata"), nil
})

func realPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := libTestdata()
	if err != nil {
		t.Fatalf("locating github.com/suyashkumar/dicom: %v", err)
	}
	return filepath.Join(dir, name)
}

func readReal(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(realPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBytes(b []byte, lim Limits) (*Header, error) {
	return ReadHeader(bytes.NewReader(b), int64(len(b)), lim)
}

// mustRead reads b and fails the test on error.
func mustRead(t testing.TB, b []byte) *Header {
	t.Helper()
	h, err := readBytes(b, Limits{})
	if err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	return h
}

// wantInvalid checks that err is an *InvalidError whose reason contains
// every one of parts.
func wantInvalid(t testing.TB, err error, parts ...string) {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v (%T), want *InvalidError", err, err)
	}
	for _, p := range parts {
		if !strings.Contains(ie.Reason, p) {
			t.Errorf("reason %q does not contain %q", ie.Reason, p)
		}
	}
}

// enc encodes test data sets in a transfer syntax.
type enc struct{ sy syntax }

var (
	explicitLE = enc{}
	implicit   = enc{implicitLE}
	explicitBE = enc{syntax{big: true}}
)

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (e enc) bo() byteOrder {
	if e.sy.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (e enc) tag(b []byte, t uint32) []byte {
	b = e.bo().AppendUint16(b, uint16(t>>16))
	return e.bo().AppendUint16(b, uint16(t))
}

// header encodes an element header declaring length n.
func (e enc) header(t uint32, vr string, n uint32) []byte {
	b := e.tag(nil, t)
	switch {
	case e.sy.implicit || t>>16 == 0xFFFE:
		return e.bo().AppendUint32(b, n)
	case vrTable[vr].long:
		b = append(b, vr[0], vr[1], 0, 0)
		return e.bo().AppendUint32(b, n)
	}
	b = append(b, vr[0], vr[1])
	return e.bo().AppendUint16(b, uint16(n))
}

// el encodes an element, padding v to an even length.
func (e enc) el(t uint32, vr string, v []byte) []byte {
	if len(v)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" || vrTable[vr].binary {
			pad = 0
		}
		v = append(slices.Clip(v), pad)
	}
	return append(e.header(t, vr, uint32(len(v))), v...)
}

func (e enc) str(t uint32, vr, s string) []byte { return e.el(t, vr, []byte(s)) }

func (e enc) us(t uint32, vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = e.bo().AppendUint16(b, v)
	}
	return e.el(t, "US", b)
}

// seq encodes an undefined-length sequence.
func (e enc) seq(t uint32, items ...[]byte) []byte {
	b := e.header(t, "SQ", undefinedLength)
	for _, it := range items {
		b = append(b, it...)
	}
	return append(b, e.header(tagSequenceDelimitation, "", 0)...)
}

// seqDef encodes a defined-length sequence.
func (e enc) seqDef(t uint32, items ...[]byte) []byte {
	c := bytes.Join(items, nil)
	return append(e.header(t, "SQ", uint32(len(c))), c...)
}

// item encodes an undefined-length item.
func (e enc) item(elems ...[]byte) []byte {
	b := e.header(tagItem, "", undefinedLength)
	for _, el := range elems {
		b = append(b, el...)
	}
	return append(b, e.header(tagItemDelimitation, "", 0)...)
}

// itemDef encodes a defined-length item.
func (e enc) itemDef(elems ...[]byte) []byte {
	c := bytes.Join(elems, nil)
	return append(e.header(tagItem, "", uint32(len(c))), c...)
}

// dataSet sorts encoded elements by tag and joins them.
func (e enc) dataSet(elems ...[]byte) []byte {
	elems = slices.Clone(elems)
	key := func(b []byte) uint32 { return uint32(e.bo().Uint16(b))<<16 | uint32(e.bo().Uint16(b[2:])) }
	slices.SortStableFunc(elems, func(a, b []byte) int { return int(int64(key(a)) - int64(key(b))) })
	return bytes.Join(elems, nil)
}

// Test UIDs.
const (
	testStudy  = "1.2.826.0.1.3680043.2.1125.1"
	testSeries = "1.2.826.0.1.3680043.2.1125.1.2"
	testSOP    = "1.2.826.0.1.3680043.2.1125.1.2.3"
	testClass  = "1.2.840.10008.5.1.4.1.1.7"
)

// ids are the identifying elements every test data set needs.
func (e enc) ids() [][]byte {
	return [][]byte{
		e.str(tagSOPClassUID, "UI", testClass),
		e.str(tagSOPInstanceUID, "UI", testSOP),
		e.str(tagStudyInstanceUID, "UI", testStudy),
		e.str(tagSeriesInstanceUID, "UI", testSeries),
	}
}

// withIDs is a data set of the identifying elements plus elems.
func (e enc) withIDs(elems ...[]byte) []byte { return e.dataSet(append(e.ids(), elems...)...) }

// part10 wraps a data set (already deflated, for the deflated syntax) in a
// preamble and file meta information naming ts.
func part10(ts string, dataSet []byte) []byte {
	m := explicitLE
	meta := bytes.Join([][]byte{
		m.el(0x00020001, "OB", []byte{0, 1}),
		m.str(0x00020002, "UI", testClass),
		m.str(0x00020003, "UI", testSOP),
		m.str(tagTransferSyntaxUID, "UI", ts),
	}, nil)
	b := make([]byte, 128, 128+4+12+len(meta)+len(dataSet))
	b = append(b, "DICM"...)
	b = append(b, m.el(0x00020000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))...)
	b = append(b, meta...)
	return append(b, dataSet...)
}

// tsFor is the transfer syntax of e's encoding.
func (e enc) ts() string {
	switch {
	case e.sy.implicit:
		return ImplicitVRLittleEndian
	case e.sy.big:
		return ExplicitVRBigEndian
	}
	return ExplicitVRLittleEndian
}

// file is a Part 10 file of e's data set with the identifying elements
// and elems.
func (e enc) file(elems ...[]byte) []byte { return part10(e.ts(), e.withIDs(elems...)) }

// splitPart10 returns the data set of a Part 10 file and the offset where it
// starts, walking the group 0002 elements.
func splitPart10(t testing.TB, b []byte) (dataSet []byte, start int) {
	t.Helper()
	p := 132
	for p+8 <= len(b) && b[p] == 2 && b[p+1] == 0 {
		vr := string(b[p+4 : p+6])
		if vrTable[vr].long {
			p += 12 + int(binary.LittleEndian.Uint32(b[p+8:]))
		} else {
			p += 8 + int(binary.LittleEndian.Uint16(b[p+6:]))
		}
	}
	return b[p:], p
}
