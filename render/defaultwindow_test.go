package render

import "testing"

// TestDefaultWindowIgnoresFileWindowOutsideTheValues: a file window that
// covers none of the frame's values would show a black (or white) frame;
// the window from the pixel statistics is used instead. A file window that
// overlaps the values is kept as the file says.
func TestDefaultWindowIgnoresFileWindowOutsideTheValues(t *testing.T) {
	values := make([]int32, 1000)
	for i := range values {
		values[i] = int32(i)
	}
	r := &Raster{Width: 100, Height: 10, Samples: 1, Values: values}
	base := Params{BitsStored: 16, BitsAllocated: 16, RescaleSlope: 1}
	for _, c := range []struct {
		name string
		file Window
		keep bool
	}{
		{"far above", Window{Center: 100000, Width: 10, Function: Linear}, false},
		{"far below", Window{Center: -5000, Width: 100, Function: Linear}, false},
		{"overlapping", Window{Center: 400, Width: 200, Function: Linear}, true},
	} {
		p := base
		p.Windows = []Window{c.file}
		got := DefaultWindow(&p, r)
		if (got == c.file) != c.keep {
			t.Errorf("%s: got %+v, keep file window = %v", c.name, got, c.keep)
		}
		if !c.keep && (got.Center < 400 || got.Center > 600 || got.Width < 900) {
			t.Errorf("%s: statistical window %+v does not span the values", c.name, got)
		}
	}
}
