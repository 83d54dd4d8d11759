package codectest

import (
	"bytes"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// TestFiles checks the generated files against third-party decoders: a
// lossless file decodes to its source's frames byte for byte.
func TestFiles(t *testing.T) {
	files := Files(t)
	if len(files) < 40 {
		t.Errorf("%d files, want at least 40", len(files))
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			fr, got := Frames(t, f.Path)
			sf, want := Frames(t, f.Source)
			if fr.Rows != sf.Rows || fr.Columns != sf.Columns || fr.Samples != sf.Samples || len(got) != len(want) {
				t.Fatalf("frame %+v x%d, source %+v x%d", fr, len(got), sf, len(want))
			}
			if f.Lossy {
				return
			}
			ref := Reference(t, f)
			for i := range want {
				if !bytes.Equal(ref[i], want[i]) {
					t.Errorf("frame %d: the reference decoder's %d bytes differ from the source's %d", i, len(ref[i]), len(want[i]))
				}
			}
		})
	}
}
