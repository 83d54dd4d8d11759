package dcm

import (
	"fmt"
	"io"
)

// ReadHeader reads the Part 10 file r of size bytes: it validates the
// structure (see Limits), records frame and bulk offsets and decodes the
// data set, without reading pixel data into memory. A file that is not
// acceptable returns an *InvalidError; other errors come from reading r.
//
// The file is walked once, without recursion; text is converted to UTF-8
// following (0008,0005) SpecificCharacterSet at every level, whose value is
// kept as it was, or Limits.DefaultCharset (see Header.Decoding). An
// explicit UN element whose tag the data dictionary knows takes the
// dictionary VR (PS3.5 6.2.2), sequences included; when its bytes do not
// fit that VR it stays UN, with a Header.Warnings sentence.
//
// Header.Bulk lists every value left out of Header.Dataset, the top-level
// PixelData included (path "7FE00010"; for encapsulated pixel data its
// range covers all items, delimiter excluded). Binary values of a big
// endian file are inlined in little endian order, but ranges point at the
// stored (big endian) bytes.
func ReadHeader(r io.ReaderAt, size int64, lim Limits) (*Header, error) {
	lim = lim.withDefaults()
	nonZero, err := readPreamble(r, size)
	if err != nil {
		return nil, err
	}
	meta, err := readFileMeta(r, size, lim)
	if err != nil {
		return nil, err
	}
	kind := transferSyntaxKind(meta.transferSyntax)

	var src *source
	if kind.deflated {
		src = newDeflateSource(r, meta.end, size, lim.MaxInflatedBytes)
	} else {
		src = newFileSource(r, meta.end, size)
	}
	res, err := scanDataSet(src, kind.sy, lim, meta.used)
	src.release()
	if err != nil {
		return nil, err
	}
	if p := &res.pixel; p.present {
		if p.encapsulated && kind.native {
			return nil, invalidf("pixel data is encapsulated but transfer syntax %s is native", meta.transferSyntax)
		}
		if !p.encapsulated && kind.encapsulated {
			return nil, invalidf("pixel data has a defined length but transfer syntax %s needs encapsulated pixel data", meta.transferSyntax)
		}
	}

	ds, decoding, warnings, err := decodeDataSet(res, kind.sy, lim)
	if err != nil {
		return nil, err
	}
	frames, err := frameTable(ds, &res.pixel, kind.sy, meta.transferSyntax)
	if err != nil {
		return nil, err
	}
	if kind.deflated {
		frames.Deflated, frames.DeflateStart = true, meta.end
	}

	h := &Header{
		TransferSyntax:  meta.transferSyntax,
		Dataset:         ds,
		Frames:          frames,
		Bulk:            res.bulk,
		PreambleNonZero: nonZero,
		Decoding:        decoding,
		Warnings:        warnings,
	}
	for _, u := range []struct {
		dst      *string
		tag      string
		name     string
		optional bool
	}{
		{&h.StudyUID, "0020000D", "StudyInstanceUID", false},
		{&h.SeriesUID, "0020000E", "SeriesInstanceUID", false},
		{&h.SOPUID, "00080018", "SOPInstanceUID", false},
		{&h.SOPClassUID, "00080016", "SOPClassUID", true},
	} {
		v := ds.String(u.tag)
		if n := len(ds.Strings(u.tag)); n > 1 {
			return nil, invalidf("%s %s has %d values", u.name, tagDisplay(u.tag), n)
		}
		if v == "" && u.tag == "00080016" {
			v = meta.sopClassUID
		}
		if v == "" {
			if u.optional {
				continue
			}
			return nil, invalidf("missing %s %s", u.name, tagDisplay(u.tag))
		}
		if !ValidUID(v) {
			return nil, invalidf("%s %q is not a valid UID", u.name, clip(v))
		}
		*u.dst = v
	}
	return h, nil
}

// tagDisplay formats an 8-digit key as "(GGGG,EEEE)".
func tagDisplay(key string) string {
	if len(key) != 8 {
		return key
	}
	return fmt.Sprintf("(%s,%s)", key[:4], key[4:])
}
