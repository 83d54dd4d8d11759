package archive_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

// BenchmarkCompressAtIngest stores the .dcm files of the folder
// GW_BENCH_CORPUS (a corpus of ../shared/bench's gencorpus; default:
// codectest's native originals) through archive.Store into a folder store,
// once with compression off and once per encoder of the build, and
// reports instances/s, received MB/s, the ratio of bytes received to
// bytes stored, CPU ms per instance (getrusage: the steady figure on a
// shared machine) and the outcomes. Run with -benchtime=1x.
func BenchmarkCompressAtIngest(b *testing.B) {
	var files [][]byte
	if dir := os.Getenv("GW_BENCH_CORPUS"); dir != "" {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
		sort.Strings(paths)
		for _, p := range paths {
			f, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			files = append(files, f)
		}
	} else {
		for _, n := range codectest.Natives(b) {
			f, err := os.ReadFile(n.Path)
			if err != nil {
				b.Fatal(err)
			}
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		b.Fatal("no files")
	}
	set := codecs.New()
	for _, c := range []struct{ name, ts string }{{"off", ""}, {"rle", codec.RLELossless}, {"jpeg-ls-lossless", codec.JPEGLSLossless}, {"j2k-lossless", codec.JPEG2000Lossless}} {
		if _, ok := set.Encoder(c.ts); c.ts != "" && !ok {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var in, out int64
			var elapsed, cpu time.Duration
			var stats []archive.CompressionStat
			for range b.N {
				b.StopTimer()
				svc, _, dir := newCompressing(b, set, c.ts)
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				var batch []*archive.Stored
				for i, f := range files {
					st, err := svc.Store(ctx, bytes.NewReader(f), "")
					if err != nil {
						b.Fatal(err)
					}
					in += int64(len(f))
					if batch = append(batch, st); len(batch) == 10 || i == len(files)-1 {
						if err := svc.Commit(ctx, batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				b.StopTimer()
				out += dirSize(b, filepath.Join(dir, "objects"))
				stats = svc.CompressionStats()
				os.RemoveAll(filepath.Join(dir, "objects"))
				b.StartTimer()
			}
			n := float64(len(files) * b.N)
			b.ReportMetric(n/elapsed.Seconds(), "inst/s")
			b.ReportMetric(float64(in)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(float64(in)/float64(out), "ratio")
			b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms/inst")
			for _, s := range stats {
				var parts []string
				for o, k := range s.Instances {
					if k > 0 {
						parts = append(parts, o+"="+strconv.FormatUint(k, 10))
					}
				}
				sort.Strings(parts)
				b.Logf("%s: %d files, %.1f MB received, %.1f MB stored; %s", c.name, len(files), float64(in)/1e6/float64(b.N), float64(out)/1e6/float64(b.N), strings.Join(parts, " "))
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
