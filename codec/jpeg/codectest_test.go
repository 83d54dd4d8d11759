package jpeg

import (
	"bytes"
	"testing"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
)

func TestMain(m *testing.M) { codectest.Main(m) }

// TestCodectestFiles decodes the project's shared third-party JPEG files
// (the ones render and WADO are tested with): lossless frames equal their
// originals, lossy ones dcmdjpeg's decoding to ±1.
func TestCodectestFiles(t *testing.T) {
	for _, file := range codectest.Files(t, codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1) {
		t.Run(file.Name, func(t *testing.T) {
			f, frs := codectest.Frames(t, file.Path)
			want := frs
			if file.Lossy {
				want = codectest.Reference(t, file)
			} else {
				_, want = codectest.Frames(t, file.Source)
			}
			for i, fr := range frs {
				img, err := Decoder{}.Decode(fr, f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !file.Lossy {
					if !bytes.Equal(img.Pixels, want[i]) {
						t.Fatalf("frame %d differs from the original: %s", i, firstDiff(img.Pixels, want[i], f))
					}
					continue
				}
				if len(img.Pixels) != len(want[i]) {
					t.Fatalf("frame %d: %d bytes, dcmdjpeg %d", i, len(img.Pixels), len(want[i]))
				}
				if d, _ := diff(img.Pixels, want[i], f.BitsAllocated/8, 16); d > 1 {
					t.Fatalf("frame %d: a sample differs from dcmdjpeg's by %d (%s)", i, d, firstDiff(img.Pixels, want[i], f))
				}
			}
		})
	}
}
