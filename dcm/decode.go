package dcm

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"

	"github.com/suyashkumar/dicom"
)

// decodeDataSet has the library parse the kept elements (scanResult.lib)
// and turns its elements, and the scanner's own elements, into a Dataset.
func decodeDataSet(res *scanResult, sy syntax, lim Limits) (Dataset, error) {
	buf := libPrefix(sy, len(res.lib))
	buf = append(buf, res.lib...)
	parsed, err := dicom.Parse(bytes.NewReader(buf), int64(len(buf)), nil,
		dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return nil, invalidf("decoding values: %v", err)
	}
	c := &converter{own: res.own, order: sy.order(), big: sy.big}
	ds, err := c.dataSet("", parsed.Elements, defaultText)
	if err != nil {
		return nil, err
	}
	if len(c.own) > 0 {
		paths := make([]string, 0, len(c.own))
		for p := range c.own {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		return nil, invalidf("decoding values: no item %s in the decoded data set", paths[0])
	}
	return ds, nil
}

// libPrefix is a preamble and minimal file meta group announcing the
// (non-deflated) transfer syntax of lib, of n bytes, which follows it.
func libPrefix(sy syntax, n int) []byte {
	ts := ExplicitVRLittleEndian
	switch {
	case sy.implicit:
		ts = ImplicitVRLittleEndian
	case sy.big:
		ts = ExplicitVRBigEndian
	}
	if len(ts)%2 == 1 {
		ts += "\x00"
	}
	le := binary.LittleEndian
	tsElem := []byte{0x02, 0x00, 0x10, 0x00, 'U', 'I', 0, 0}
	le.PutUint16(tsElem[6:], uint16(len(ts)))
	tsElem = append(tsElem, ts...)

	out := make([]byte, 128, 128+4+12+len(tsElem)+n)
	out = append(out, "DICM"...)
	out = append(out, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0)
	out = le.AppendUint32(out, uint32(len(tsElem)))
	return append(out, tsElem...)
}

// splitBackslash splits a decoded multi-valued string.
func splitBackslash(s string) []string { return strings.Split(s, `\`) }
