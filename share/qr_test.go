package share

import (
	"strings"
	"testing"
)

// TestTerminalQR reads the half-block drawing back into modules and
// compares them with the code's matrix, module by module.
func TestTerminalQR(t *testing.T) {
	qr, err := NewQR("https://gw.example.cn/s/eyJ0IjoicyJ9.c2ln")
	if err != nil {
		t.Fatal(err)
	}
	bm := qr.q.Bitmap()
	text := strings.ReplaceAll(strings.ReplaceAll(qr.Terminal(true), "\x1b[30;47m", ""), "\x1b[0m", "")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != (len(bm)+1)/2 {
		t.Fatalf("%d lines for %d rows", len(lines), len(bm))
	}
	for i, ln := range lines {
		for x, r := range []rune(ln) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			if top != bm[2*i][x] || (2*i+1 < len(bm) && bottom != bm[2*i+1][x]) {
				t.Fatalf("module (%d,%d) differs", x, 2*i)
			}
		}
	}
	if svg := qr.SVG(); !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "viewBox=\"0 0 ") {
		t.Errorf("SVG: %.80s", svg)
	}
}
