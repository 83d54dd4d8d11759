package jpeg

import (
	"bytes"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// benchCase is one compressed file of the benchmarks: a real frame, or a
// real frame repeated so that dcmdjpeg's decoding outweighs its start.
type benchCase struct {
	name   string
	source string // file of suyashkumar/dicom's testdata, or "" for rgb
	copies int
	args   []string // dcmcjpeg's
}

var benchCases = []benchCase{
	{"lossless-sv1/4.dcm-2140x1760x10bit", "4.dcm", 1, []string{"+e1"}},
	{"lossless-sv6/3.dcm-176x176x12bit", "3.dcm", 100, []string{"+el", "+sv", "6"}},
	{"lossless-sv1/5.dcm-512x512x16bit", "5.dcm", 10, []string{"+e1"}},
	{"baseline/6.dcm-512x512x8bit", "6.dcm", 20, []string{"+eb"}},
	{"extended-12bit/4.dcm-2140x1760", "4.dcm", 1, []string{"+ee"}},
	{"baseline-ybr422/rgb-1024x768", "", 5, []string{"+eb"}},
}

// files writes the case's native file (its frames repeated) and the
// compressed one.
func (c benchCase) files(b *testing.B) (compressed, native string) {
	var im image
	if c.source == "" {
		im = synth("rgb", 768, 1024, 3, 8, 8, false)
	} else {
		f, frs := frames(b, sourceFile(b, c.source))
		im = image{name: c.source, rows: f.Rows, cols: f.Columns, spp: f.Samples, bitsAlloc: f.BitsAllocated,
			bitsStore: f.BitsStored, signed: f.Signed, photometric: f.Photometric, sopClass: "SecondaryCaptureImageStorage",
			pixels: bytes.Join(frs, nil)}
		c.copies *= len(frs)
	}
	im.frames = c.copies
	im.pixels = bytes.Repeat(im.pixels, c.copies/max(1, len(im.pixels)/(im.rows*im.cols*im.spp*im.bitsAlloc/8)))
	native = im.write(b)
	return dcmtk(b, "dcmcjpeg", native, c.args...), native
}

// cpu is the processor time this process has used, so that the figures
// hold on a machine shared with other work.
func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode decodes the frames of third-party files: ns/op is the
// wall time of one frame, cpu-ns/frame its processor time.
// BENCHMARKS.md compares the latter with BenchmarkDCMDJPEG.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			enc, _ := c.files(b)
			f, frs := frames(b, enc)
			b.SetBytes(int64(f.Size()))
			b.ResetTimer()
			start := cpu(b)
			for i := 0; i < b.N; i++ {
				if _, err := (Decoder{}).Decode(frs[i%len(frs)], f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpu(b)-start)/float64(b.N), "cpu-ns/frame")
		})
	}
}

// BenchmarkDCMDJPEG runs DCMTK's dcmdjpeg on the same files and reports
// its processor time per frame, less what it spends on the native file
// (which it only reads and writes: the process, parsing, writing).
func BenchmarkDCMDJPEG(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			enc, native := c.files(b)
			_, frs := frames(b, enc)
			path := tool(b, "dcmdjpeg")
			out := b.TempDir() + "/out.dcm"
			run := func(in string) time.Duration {
				cmd := exec.Command(path, "-q", in, out)
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("dcmdjpeg: %v\n%s", err, msg)
				}
				return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			var total, overhead time.Duration
			for i := 0; i < b.N; i++ {
				total += run(enc)
				overhead += run(native)
			}
			b.ReportMetric(float64(total-overhead)/float64(b.N*len(frs)), "cpu-ns/frame")
			b.ReportMetric(float64(overhead)/float64(b.N), "overhead-cpu-ns")
		})
	}
}
