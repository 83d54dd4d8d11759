//go:build cgocodecs && cgo

package charls

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

// benchNames are the files measured: a 2140x1760 radiograph and a
// 2-frame 512x512 CT, JPEG-LS lossless by DCMTK.
var benchNames = []string{"4.dcm dcmcjpls", "5.dcm dcmcjpls"}

// BenchmarkDecode measures Decoder on every frame of the files; compare
// with BenchmarkDcmdjpls on the same files.
func BenchmarkDecode(b *testing.B) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			f, frames := codectest.Frames(b, benchFile(b, name).Path)
			b.SetBytes(int64(f.Size() * len(frames)))
			for b.Loop() {
				for _, cs := range frames {
					if _, err := (Decoder{}).Decode(cs, f); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkDcmdjpls runs DCMTK's dcmdjpls on the same files (a process
// each: start, parse, decode every frame, write the native file).
func BenchmarkDcmdjpls(b *testing.B) {
	tool, err := exec.LookPath("dcmdjpls")
	if err != nil {
		b.Skip("dcmdjpls is not installed (scripts/dcmtk.sh)")
	}
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			file := benchFile(b, name)
			f, frames := codectest.Frames(b, file.Path)
			out := filepath.Join(b.TempDir(), "out.dcm")
			b.SetBytes(int64(f.Size() * len(frames)))
			for b.Loop() {
				if o, err := exec.Command(tool, "-q", file.Path, out).CombinedOutput(); err != nil {
					b.Fatalf("dcmdjpls: %v\n%s", err, o)
				}
			}
		})
	}
}

func benchFile(b *testing.B, name string) codectest.File {
	for _, file := range codectest.Files(b, codec.JPEGLSLossless) {
		if strings.HasPrefix(file.Name, name+" -q +el") && !strings.Contains(file.Name, "+in") && !strings.Contains(file.Name, "+is") {
			return file
		}
	}
	b.Fatalf("no JPEG-LS file %s", name)
	return codectest.File{}
}
