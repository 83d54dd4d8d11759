package share

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QR is a QR code of a share URL at error correction level M (15 %), which
// phone cameras read well at the sizes a link needs.
type QR struct{ q *qrcode.QRCode }

// NewQR encodes url.
func NewQR(url string) (*QR, error) {
	q, err := qrcode.New(url, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	return &QR{q: q}, nil
}

// PNG renders the code as a PNG image about size pixels wide: a whole
// number of pixels per module (at most size), so every module has the same
// width and scanners do not meet modules of 4 and 5 pixels side by side.
func (c *QR) PNG(size int) ([]byte, error) {
	perModule := max(1, size/len(c.q.Bitmap()))
	b, err := c.q.PNG(-perModule)
	if err != nil {
		return nil, fmt.Errorf("QR code PNG: %w", err)
	}
	return b, nil
}

// SVG draws the code as a scalable image: one path of unit squares on a
// white background, with the 4-module quiet zone the standard asks for.
func (c *QR) SVG() string {
	bm := c.q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			run := 1 // one horizontal run per path segment keeps the file small
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run - 1
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// Terminal draws the code with half-block characters, two rows of modules
// per line, in black on white set by ANSI colours when color is true (so
// it scans on dark terminals too); without colour, dark modules are drawn
// as blocks, for light backgrounds.
func (c *QR) Terminal(color bool) string {
	bm := c.q.Bitmap()
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		if color {
			b.WriteString("\x1b[30;47m") // black on white
		}
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		if color {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
