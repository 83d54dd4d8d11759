// Package phantom renders synthetic medical images in code, for the demo
// studies (internal/demo) and the test corpus (internal/corpus): a head in
// HU and as T2-weighted MR, a male pelvis, chest radiographs, a PET slice in
// SUV, a scanned film and an RGB ultrasound frame. They are geometric
// phantoms, never patient data. Every function draws its noise from the
// given generator, so equal seeds give equal images.
package phantom

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// ellipsoid is one component of a 3-D phantom, in coordinates normalised to
// [-1, 1]; v is added inside it.
type ellipsoid struct {
	x0, y0, z0, a, b, c, phiDeg, v float64
}

// headPhantom is a Shepp-Logan-like head in HU: skull, brain, ventricles, a
// few small hyperdense spots and a small haemorrhage-like lesion.
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

// slice is a phantom cut at one height: each component that reaches it
// becomes a rotated ellipse, with its trigonometry done once.
type slice []struct{ x0, y0, sin, cos, ia2, ib2, k, v float64 }

// cut returns the components of parts that reach height z.
func cut(parts []ellipsoid, z float64) slice {
	var out slice
	for _, e := range parts {
		dz := (z - e.z0) / e.c
		k := 1 - dz*dz
		if k < 0 {
			continue
		}
		s, c := math.Sincos(e.phiDeg * math.Pi / 180)
		out = append(out, struct{ x0, y0, sin, cos, ia2, ib2, k, v float64 }{e.x0, e.y0, s, c, 1 / (e.a * e.a), 1 / (e.b * e.b), k, e.v})
	}
	return out
}

// at returns base plus the value of every component containing (x, y).
func (sl slice) at(base, x, y float64) float64 {
	v := base
	for i := range sl {
		e := &sl[i]
		dx, dy := x-e.x0, y-e.y0
		xr, yr := dx*e.cos+dy*e.sin, -dx*e.sin+dy*e.cos
		if xr*xr*e.ia2+yr*yr*e.ib2 <= e.k {
			v += e.v
		}
	}
	return v
}

// grid calls f for the centre of every pixel of an n x n image, in
// coordinates normalised to [-1, 1] (y up), and stores what it returns as
// 16-bit little-endian words.
func grid(n int, f func(x, y float64) uint16) []byte {
	out := make([]byte, 2*n*n)
	for row := range n {
		y := 1 - 2*(float64(row)+0.5)/float64(n)
		for col := range n {
			x := 2*(float64(col)+0.5)/float64(n) - 1
			binary.LittleEndian.PutUint16(out[2*(row*n+col):], f(x, y))
		}
	}
	return out
}

// HeadCT renders the head phantom at height z in [-1, 1] as signed stored
// values HU + 1024 (RescaleIntercept -1024), with mild noise.
func HeadCT(r *rand.Rand, z float64, n int) []byte {
	sl := cut(headPhantom(), z)
	return grid(n, func(x, y float64) uint16 {
		hu := sl.at(-1000, x, y)
		if hu > -900 {
			hu += 3 * r.NormFloat64()
		}
		return uint16(int16(math.Round(hu + 1024)))
	})
}

// HeadT2 renders the head phantom as a T2-weighted MR slice: fluid bright,
// grey matter brighter than white, bone and air dark.
func HeadT2(r *rand.Rand, z float64, n int) []byte {
	parts := headPhantom()
	sl, skull := cut(parts, z), cut(parts[:1], z)
	return grid(n, func(x, y float64) uint16 {
		hu := sl.at(-1000, x, y)
		var s float64
		switch {
		case hu < -500: // air
			s = 5
		case hu > 500: // skull
			s = 60
		case hu < 20: // ventricles (CSF)
			s = 1800
		case hu < 40: // white matter
			s = 520
		case hu < 60: // grey matter
			s = 760
		default: // lesion: subacute blood is T2 bright
			s = 1300
		}
		// scalp fat just outside the skull
		if hu < -500 && skull.at(0, x*0.96, y*0.96) > 0 {
			s = 900
		}
		return uint16(math.Max(0, s+12*r.NormFloat64()))
	})
}

// PelvisT2 renders an axial T2-weighted slice through a male pelvis: fat,
// muscle, bladder (fluid, bright), prostate with a brighter peripheral zone,
// rectum and femoral heads.
func PelvisT2(r *rand.Rand, z float64, n int) []byte {
	return grid(n, func(x, y float64) uint16 {
		s := 5.0
		if inEllipse(x, y, 0, 0, 0.95, 0.7) {
			s = 850 // subcutaneous fat
			if inEllipse(x, y, 0, 0, 0.85, 0.6) {
				s = 300 // muscle
			}
			for _, fx := range []float64{-0.6, 0.6} {
				if inEllipse(x, y, fx, 0.05, 0.16, 0.16) {
					s = 450 // femoral head (marrow)
				}
			}
			if inEllipse(x, y, 0, 0.32+0.1*z, 0.25, 0.16) {
				s = 1900 // bladder
			}
			if inEllipse(x, y, 0, 0.0, 0.2, 0.15) {
				s = 1100 // peripheral zone
				if inEllipse(x, y, 0, 0.04, 0.12, 0.08) {
					s = 600 // transition zone
				}
			}
			if inEllipse(x, y, 0, -0.26, 0.09, 0.07) {
				s = 250 // rectum
			}
		}
		return uint16(math.Max(0, s+15*r.NormFloat64()))
	})
}

// inEllipse reports whether (x, y) lies in the axis-aligned ellipse.
func inEllipse(x, y, cx, cy, a, b float64) bool {
	dx, dy := (x-cx)/a, (y-cy)/b
	return dx*dx+dy*dy <= 1
}

// Chest adds quantum noise to a chest radiograph base and returns n x n
// unsigned values with 12 bits stored (MONOCHROME2: bone bright).
func Chest(r *rand.Rand, base []float32) []byte {
	out := make([]byte, 2*len(base))
	for i, f := range base {
		f += float32(0.01 * r.NormFloat64())
		binary.LittleEndian.PutUint16(out[2*i:], uint16(math.Round(math.Max(0, math.Min(1, float64(f)))*4000)))
	}
	return out
}

// ChestBase renders a noise-free chest radiograph as attenuation in [0, 1]:
// a PA view, or with lateral a lateral one (spine at the back, heart in
// front, the lungs overlapping).
func ChestBase(n int, lateral bool) []float32 {
	out := make([]float32, 0, n*n)
	grid(n, func(u, v float64) uint16 {
		v = -v // -1 at the top
		au := math.Abs(u)
		f := 0.05 // air outside the body
		switch {
		case lateral && inEllipse(u, v, 0, 0.15, 0.62, 1.15):
			f = 0.55
			if inEllipse(u, v, 0.02, -0.05, 0.45, 0.6) {
				f = 0.28 + 0.03*math.Sin(u*31)*math.Sin(v*19) // overlapping lungs
			}
			if inEllipse(u, v, -0.2, 0.3, 0.28, 0.28) { // heart, anterior
				f = 0.58
			}
			if math.Abs(u-0.45+0.05*v) < 0.07 { // spine, posterior
				f = 0.7 + 0.06*math.Sin(v*40)
			}
			if math.Abs(u+0.55) < 0.03 && v > -0.5 && v < 0.4 { // sternum
				f = 0.65
			}
		case !lateral && inEllipse(u, v, 0, 0.15, 0.86, 1.15):
			f = 0.55 // soft tissue
			if inEllipse(u, v, -0.38, -0.05, 0.27, 0.56) || inEllipse(u, v, 0.37, -0.02, 0.25, 0.53) {
				f = 0.2 + 0.04*math.Sin(u*37)*math.Sin(v*23) // vascular markings
				for k := range 9 {                           // posterior ribs
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
		out = append(out, float32(f))
		return 0
	})
	return out
}

// PETSUV renders an axial whole-body PET slice through the upper abdomen at
// height z in [-1, 1] as SUV × 1000 (RescaleSlope 0.001): body background
// about 0.7, liver 2.3, spleen 1.9, vertebral marrow 1.6, kidneys 3.5, and
// two hypermetabolic nodes (SUVmax about 9), with Poisson-like noise.
func PETSUV(r *rand.Rand, z float64, n int) []byte {
	return grid(n, func(x, y float64) uint16 {
		suv := 0.0
		if inEllipse(x, y, 0, 0, 0.85, 0.6) {
			suv = 0.7
			if inEllipse(x, y, -0.35, 0.1, 0.35, 0.32) {
				suv = 2.3 // liver
			}
			if inEllipse(x, y, 0.45, 0.05, 0.15, 0.2) {
				suv = 1.9 // spleen
			}
			if inEllipse(x, y, 0, -0.35, 0.1, 0.1) {
				suv = 1.6 // vertebra
			}
			for _, kx := range []float64{-0.28, 0.28} {
				if inEllipse(x, y, kx, -0.3, 0.09, 0.13) {
					suv = 3.5 // kidneys
				}
			}
			for _, node := range [][3]float64{{0.12, 0.05, 0.05}, {-0.05, 0.2, 0.035}} {
				d := math.Hypot(x-node[0], y-node[1]+0.1*z)
				suv = math.Max(suv, 9*math.Exp(-d*d/(2*node[2]*node[2])))
			}
		}
		if suv > 0 {
			suv *= 1 + 0.12*r.NormFloat64()
		}
		return uint16(math.Round(math.Max(0, math.Min(30, suv)) * 1000))
	})
}

// Film adds grain to a scanned film base.
func Film(r *rand.Rand, base []byte) []byte {
	out := make([]byte, len(base))
	for i, v := range base {
		out[i] = byte(max(0, min(255, int(v)+r.IntN(7)-3)))
	}
	return out
}

// FilmBase renders an 8-bit scanned film of four head CT slices (brain
// window W80 L40) on a dark base with a light label band: an outside study
// brought in on film and digitised.
func FilmBase(n int) []byte {
	out := make([]byte, n*n)
	half := n / 2
	tn := half - 8
	var tiles [4][]byte
	parts := headPhantom()
	for k := range tiles {
		sl := cut(parts, -0.5+0.3*float64(k))
		tiles[k] = make([]byte, tn*tn)
		for row := range tn {
			y := 1 - 2*(float64(row)+0.5)/float64(tn)
			for col := range tn {
				x := 2*(float64(col)+0.5)/float64(tn) - 1
				tiles[k][row*tn+col] = byte(30 + 200*math.Max(0, math.Min(1, sl.at(-1000, x, y)/80)))
			}
		}
	}
	for row := range n {
		for col := range n {
			v := byte(30)
			tr, tc := row%half-4, col%half-4
			if tr >= 0 && tc >= 0 && tr < tn && tc < tn {
				v = tiles[(row/half*2+col/half)%4][tr*tn+tc]
			}
			if row > n-14 {
				v = 200
			}
			out[row*n+col] = v
		}
	}
	return out
}

// Ultrasound renders a w x h 8-bit RGB (interleaved) abdominal
// ultrasound-like frame: a speckled sector with an anechoic gallbladder, a
// bright diaphragm line, two colour-Doppler vessels and a depth scale.
func Ultrasound(r *rand.Rand, w, h int, shift float64) []byte {
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
