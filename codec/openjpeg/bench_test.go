//go:build cgocodecs && cgo

package openjpeg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

// benchFiles are the frames measured: a 2140x1760 radiograph and a
// 512x512 CT slice, JPEG 2000 lossless (GDCM) and HTJ2K (OpenJPH).
var benchFiles = []struct{ syntax, name string }{
	{codec.JPEG2000Lossless, "4.dcm gdcmconv"},
	{codec.JPEG2000Lossless, "5.dcm gdcmconv"},
	{codec.HTJ2KLossless, "4.dcm ojph"},
	{codec.HTJ2KLossless, "5.dcm ojph"},
}

func benchFrame(b *testing.B, syntax, name string) (codec.Frame, []byte) {
	for _, file := range codectest.Files(b, syntax) {
		if strings.HasPrefix(file.Name, name) {
			f, frames := codectest.Frames(b, file.Path)
			return f, frames[0]
		}
	}
	b.Fatalf("no %s file %s", syntax, name)
	return codec.Frame{}, nil
}

// BenchmarkDecode measures Decoder on the frames; compare with
// BenchmarkOpjDecompress on the same codestreams.
func BenchmarkDecode(b *testing.B) {
	for _, bf := range benchFiles {
		b.Run(bf.name+" "+bf.syntax, func(b *testing.B) {
			f, cs := benchFrame(b, bf.syntax, bf.name)
			b.SetBytes(int64(f.Size()))
			for b.Loop() {
				if _, err := (Decoder{}).Decode(cs, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpjDecompress runs OpenJPEG's own opj_decompress on the same
// codestreams (a process each: start, read, decode, write a raw file).
func BenchmarkOpjDecompress(b *testing.B) {
	tool, err := exec.LookPath("opj_decompress")
	if err != nil {
		b.Skip("opj_decompress is not installed (scripts/codecs.sh)")
	}
	for _, bf := range benchFiles {
		b.Run(bf.name+" "+bf.syntax, func(b *testing.B) {
			f, cs := benchFrame(b, bf.syntax, bf.name)
			dir := b.TempDir()
			in, out := filepath.Join(dir, "in.j2k"), filepath.Join(dir, "out.raw")
			if err := os.WriteFile(in, cs, 0o600); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(f.Size()))
			for b.Loop() {
				if o, err := exec.Command(tool, "-quiet", "-i", in, "-o", out).CombinedOutput(); err != nil {
					b.Fatalf("opj_decompress: %v\n%s", err, o)
				}
			}
		})
	}
}
