package corpus

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// ellipsoid is one component of the 3-D head phantom, in coordinates
// normalised to [-1, 1]; hu is added inside it.
type ellipsoid struct {
	x0, y0, z0, a, b, c, phiDeg, hu float64
}

// headPhantom is a Shepp-Logan-like head: skull, brain, ventricles, a few
// small hyperdense spots and a small haemorrhage-like lesion.
func headPhantom() []ellipsoid {
	return []ellipsoid{
		{0, 0, 0, 0.69, 0.92, 0.95, 0, 2000},            // skull: air -1000 -> bone +1000
		{0, -0.0184, 0, 0.6624, 0.874, 0.92, 0, -965},   // brain: 35 HU
		{0.22, 0, 0.05, 0.11, 0.31, 0.35, -18, -30},     // ventricle
		{-0.22, 0, 0.05, 0.16, 0.41, 0.35, 18, -30},     // ventricle
		{0, 0.35, 0.1, 0.21, 0.25, 0.3, 0, 12},          // grey matter
		{0, 0.1, 0, 0.046, 0.046, 0.046, 0, 20},         // small spots
		{0, -0.1, 0, 0.046, 0.046, 0.046, 0, 20},        //
		{-0.08, -0.605, -0.2, 0.046, 0.023, 0.1, 0, 20}, //
		{0, -0.606, -0.2, 0.023, 0.023, 0.1, 0, 20},     //
		{0.06, -0.605, -0.2, 0.023, 0.046, 0.1, 0, 20},  //
		{0.3, 0.45, 0.3, 0.08, 0.06, 0.12, 30, 40},      // lesion
	}
}

// ctSlice renders the head phantom at height z in [-1, 1] as n x n signed
// 16-bit little-endian stored values (HU + 1024), with mild noise.
func ctSlice(r *rand.Rand, z float64, n int) []byte {
	parts := headPhantom()
	out := make([]byte, 2*n*n)
	for row := 0; row < n; row++ {
		y := 1 - 2*(float64(row)+0.5)/float64(n)
		for col := 0; col < n; col++ {
			x := 2*(float64(col)+0.5)/float64(n) - 1
			hu := -1000.0
			for _, e := range parts {
				s, c := math.Sincos(e.phiDeg * math.Pi / 180)
				dx, dy, dz := x-e.x0, y-e.y0, z-e.z0
				xr, yr := dx*c+dy*s, -dx*s+dy*c
				if (xr*xr)/(e.a*e.a)+(yr*yr)/(e.b*e.b)+(dz*dz)/(e.c*e.c) <= 1 {
					hu += e.hu
				}
			}
			if hu > -900 {
				hu += 3 * r.NormFloat64()
			}
			v := int16(math.Round(hu + 1024))
			binary.LittleEndian.PutUint16(out[2*(row*n+col):], uint16(v))
		}
	}
	return out
}

// inEllipse reports whether (x, y) lies in the axis-aligned ellipse.
func inEllipse(x, y, cx, cy, a, b float64) bool {
	dx, dy := (x-cx)/a, (y-cy)/b
	return dx*dx+dy*dy <= 1
}

// chestImage renders a synthetic PA chest radiograph, n x n unsigned 16-bit
// little-endian values with 12 bits stored (MONOCHROME2: bone bright).
func chestImage(r *rand.Rand, n int) []byte {
	out := make([]byte, 2*n*n)
	for row := 0; row < n; row++ {
		v := 2*(float64(row)+0.5)/float64(n) - 1 // -1 top
		for col := 0; col < n; col++ {
			u := 2*(float64(col)+0.5)/float64(n) - 1
			au := math.Abs(u)
			f := 0.05 // air outside the body
			if inEllipse(u, v, 0, 0.15, 0.86, 1.15) {
				f = 0.55 // soft tissue
				lung := inEllipse(u, v, -0.38, -0.05, 0.27, 0.56) || inEllipse(u, v, 0.37, -0.02, 0.25, 0.53)
				if lung {
					f = 0.2 + 0.04*math.Sin(u*37)*math.Sin(v*23) // vascular markings
					for k := 0; k < 9; k++ {                     // posterior ribs
						rib := -0.62 + 0.13*float64(k) + 0.28*au*au
						if math.Abs(v-rib) < 0.022 {
							f += 0.17
						}
					}
				}
				if inEllipse(u, v, 0.1, 0.3, 0.3, 0.26) { // heart
					f = 0.6
				}
				if au < 0.07 { // spine
					f = 0.68 + 0.05*math.Sin(v*45)
				}
				if au > 0.05 && au < 0.55 && math.Abs(v-(-0.6-0.15*(au-0.05))) < 0.025 {
					f += 0.25 // clavicles
				}
			}
			f += 0.01 * r.NormFloat64()
			val := uint16(math.Round(math.Max(0, math.Min(1, f)) * 4000))
			binary.LittleEndian.PutUint16(out[2*(row*n+col):], val)
		}
	}
	return out
}

// ultrasoundImage renders a w x h 8-bit RGB (interleaved) abdominal
// ultrasound-like frame: a speckled sector with an anechoic gallbladder, a
// bright diaphragm line, two colour-Doppler vessels and a depth scale.
func ultrasoundImage(r *rand.Rand, w, h int, shift float64) []byte {
	out := make([]byte, 3*w*h)
	apexX, apexY := float64(w)/2, 10.0
	maxR := float64(h) - 15
	halfAngle := 35 * math.Pi / 180
	for row := 0; row < h; row++ {
		for col := 0; col < w; col++ {
			x, y := float64(col), float64(row)
			dx, dy := x-apexX, y-apexY
			rad := math.Hypot(dx, dy)
			ang := math.Atan2(dx, dy)
			var cr, cg, cb float64
			if rad > 20 && rad < maxR && math.Abs(ang) < halfAngle {
				u := 1 - r.Float64()
				speckle := math.Sqrt(-2*math.Log(u)) / 1.25 // Rayleigh
				level := 95 * (1 - 0.45*rad/maxR)
				switch {
				case inEllipse(x, y, 230+shift, 150, 52, 30): // gallbladder
					level = 8
				case math.Abs(rad-(235+shift/2)) < 4:
					level = 210 // diaphragm
				}
				g := math.Min(255, level*speckle)
				cr, cg, cb = g, g, g
				switch {
				case inEllipse(x, y, 150-shift, 115, 14, 6):
					cr, cg, cb = 200, 30+g/8, 30
				case inEllipse(x, y, 175-shift, 190, 10, 5):
					cr, cg, cb = 30, 60+g/8, 210
				}
			}
			if col == w-12 && row > 20 && row%25 == 0 { // depth ticks
				cr, cg, cb = 230, 230, 230
			}
			i := 3 * (row*w + col)
			out[i], out[i+1], out[i+2] = byte(cr), byte(cg), byte(cb)
		}
	}
	return out
}
