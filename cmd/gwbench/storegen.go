package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/progress"
	"github.com/imgcloud/gateway/storage"
)

// "gwbench store gen" writes small valid DICOM Part 10 files (the studies
// "index gen" draws, with the same flags) straight into a data folder's
// object store (objects/, the folder store's layout), so that `gateway
// reindex` can be timed at a million instances. Files are written to a
// temporary name and renamed, without fsync: it is bench data, and a
// million fsyncs would take longer than the reindex being measured.

// benchPixels is the side of the generated images (16-bit): 32x32 keeps
// a file near 2.5 KB, header included.
const benchPixels = 32

func storeGen(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("store gen", flag.ContinueOnError)
	dir := fs.String("data", "", "data folder of a gateway (objects are written under DIR/objects)")
	var df drawFlags
	df.bind(fs)
	writers := fs.Int("c", 4, "concurrent writers (one study each at a time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("store gen: -data is required")
	}
	if df.studies <= 0 || df.series <= 0 || df.instances <= 0 || *writers <= 0 {
		return fmt.Errorf("store gen: -studies, -series, -instances and -c must be positive")
	}
	root := filepath.Join(*dir, "objects")
	total := int64(df.studies) * int64(df.series) * int64(df.instances)
	bar := progress.New(out, total, "store gen")
	work := make(chan benchStudy, *writers)
	errs := make(chan error, *writers)
	var size atomic.Int64 // bytes written
	for range *writers {
		go func() {
			var first error
			for bs := range work {
				if first != nil {
					continue
				}
				for _, se := range bs.series {
					var wrote int64
					if wrote, first = writeSeries(root, bs, se); first != nil {
						break
					}
					size.Add(wrote)
					bar.Add(int64(len(se.sops)))
				}
			}
			errs <- first
		}()
	}
	draw := df.draw()
	t0 := time.Now()
	var err error
	for i := range df.studies {
		if err = ctx.Err(); err != nil {
			break
		}
		work <- draw.next(i)
	}
	close(work)
	for range *writers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	bar.Finish()
	el := time.Since(t0)
	fmt.Fprintf(out, "wrote %d studies, %d instances (%.0f MB of files, %s on disk) in %s (%.0f inst/s, %d writers)\n",
		df.studies, total, float64(size.Load())/1e6, dirSize(root), el.Round(time.Second), float64(total)/el.Seconds(), *writers)
	return nil
}

// writeSeries writes the instances of one series and returns their bytes.
func writeSeries(root string, bs benchStudy, se benchSeries) (int64, error) {
	dir := filepath.Dir(filepath.Join(root, filepath.FromSlash(storage.InstanceKey(bs.uid, se.uid, "x"))))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("store gen: %w", err)
	}
	var n int64
	for k, sop := range se.sops {
		b := benchInstance(bs, se, sop, k+1)
		path := filepath.Join(root, filepath.FromSlash(storage.InstanceKey(bs.uid, se.uid, sop)))
		// '~' marks a temporary file, which the folder store's List skips.
		tmp := path + ".gen~"
		if err := os.WriteFile(tmp, b, 0o640); err != nil {
			return n, fmt.Errorf("store gen: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return n, fmt.Errorf("store gen: %w", err)
		}
		n += int64(len(b))
	}
	return n, nil
}

// benchInstance encodes one instance as a Part 10 file in Explicit VR
// Little Endian: file meta, the study's, series' and instance's
// attributes in tag order, and a small 16-bit MONOCHROME2 image.
func benchInstance(bs benchStudy, se benchSeries, sop string, number int) []byte {
	const explicitLE = "1.2.840.10008.1.2.1"
	var meta []byte
	for _, e := range []dcm.RawElement{
		{Tag: 0x00020001, VR: "OB", Value: []byte{0, 1}},
		{Tag: 0x00020002, VR: "UI", Value: uidBytes(benchSOPClass)},
		{Tag: 0x00020003, VR: "UI", Value: uidBytes(sop)},
		{Tag: 0x00020010, VR: "UI", Value: uidBytes(explicitLE)},
		{Tag: 0x00020012, VR: "UI", Value: uidBytes("2.25.18")},
	} {
		meta = dcm.AppendElement(meta, e)
	}
	b := make([]byte, 128, 3072)
	b = append(b, "DICM"...)
	b = dcm.AppendElement(b, dcm.RawElement{Tag: 0x00020000, VR: "UL", Value: binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))})
	b = append(b, meta...)
	s := func(tag uint32, vr, v string) dcm.RawElement {
		if vr == "UI" {
			return dcm.RawElement{Tag: tag, VR: vr, Value: uidBytes(v)}
		}
		return dcm.RawElement{Tag: tag, VR: vr, Value: []byte(v)}
	}
	text := func(ds dcm.Dataset, tag string) string { return ds.String(tag) }
	us := func(tag uint32, v uint16) dcm.RawElement {
		return dcm.RawElement{Tag: tag, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, v)}
	}
	st := bs.attrs
	name := ""
	if e := st["00100010"]; e != nil && len(e.Value) == 1 {
		if pn, ok := e.Value[0].(dcm.PersonName); ok {
			name = pn.Alphabetic
			if pn.Ideographic != "" {
				name += "=" + pn.Ideographic
			}
		}
	}
	pixels := make([]byte, 2*benchPixels*benchPixels)
	for i := range benchPixels * benchPixels {
		binary.LittleEndian.PutUint16(pixels[2*i:], uint16((i*7+number*131)%4096))
	}
	for _, e := range []dcm.RawElement{
		s(0x00080005, "CS", "ISO_IR 192"), // UTF-8: the names are Chinese too
		s(0x00080016, "UI", benchSOPClass),
		s(0x00080018, "UI", sop),
		s(0x00080020, "DA", text(st, "00080020")),
		s(0x00080030, "TM", text(st, "00080030")),
		s(0x00080050, "SH", text(st, "00080050")),
		s(0x00080060, "CS", se.modality),
		s(0x00080080, "LO", text(st, "00080080")),
		s(0x00081030, "LO", text(st, "00081030")),
		s(0x0008103E, "LO", text(se.attrs, "0008103E")),
		s(0x00100010, "PN", name),
		s(0x00100020, "LO", text(st, "00100020")),
		s(0x00100030, "DA", text(st, "00100030")),
		s(0x00100040, "CS", text(st, "00100040")),
		s(0x0020000D, "UI", bs.uid),
		s(0x0020000E, "UI", se.uid),
		s(0x00200011, "IS", text(se.attrs, "00200011")),
		s(0x00200013, "IS", fmt.Sprint(number)),
		us(0x00280002, 1),
		s(0x00280004, "CS", "MONOCHROME2"),
		us(0x00280010, benchPixels),
		us(0x00280011, benchPixels),
		us(0x00280100, 16),
		us(0x00280101, 12),
		us(0x00280102, 11),
		us(0x00280103, 0),
		{Tag: dcm.TagPixelData, VR: "OW", Value: pixels},
	} {
		b = dcm.AppendElement(b, e)
	}
	return b
}

// uidBytes pads a UID to even length with a NUL, as PS3.5 6.2 says (the
// writer would pad with a space).
func uidBytes(uid string) []byte {
	b := []byte(uid)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}
