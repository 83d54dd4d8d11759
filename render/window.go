package render

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// WindowFunction is a VOI LUT Function (0028,1056).
type WindowFunction string

// VOI LUT functions of PS3.3 C.11.2.1.3. The empty function is LINEAR.
const (
	Linear      WindowFunction = "LINEAR"
	LinearExact WindowFunction = "LINEAR_EXACT"
	Sigmoid     WindowFunction = "SIGMOID"
)

// Window is a VOI window over modality values (after rescale).
type Window struct {
	Center, Width float64
	Function      WindowFunction
}

// Valid checks the width against the function: LINEAR needs at least 1,
// the others more than 0.
func (w Window) Valid() error {
	switch w.Function {
	case "", Linear:
		if !(w.Width >= 1) {
			return fmt.Errorf("window width %g: LINEAR needs a width of at least 1", w.Width)
		}
	case LinearExact, Sigmoid:
		if !(w.Width > 0) {
			return fmt.Errorf("window width %g: %s needs a width above 0", w.Width, w.Function)
		}
	default:
		return fmt.Errorf("window function %q: use LINEAR, LINEAR_EXACT or SIGMOID", w.Function)
	}
	if math.IsNaN(w.Center) || math.IsInf(w.Center, 0) || math.IsInf(w.Width, 0) {
		return fmt.Errorf("window %g,%g is not finite", w.Center, w.Width)
	}
	return nil
}

// ParseWindow parses the PS3.18 window parameter "center,width[,function]"
// (function case-insensitive, LINEAR by default).
func ParseWindow(s string) (Window, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return Window{}, fmt.Errorf("window %q: want center,width[,function]", s)
	}
	c, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	w, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err1 != nil || err2 != nil {
		return Window{}, fmt.Errorf("window %q: center and width must be numbers", s)
	}
	win := Window{Center: c, Width: w, Function: Linear}
	if len(parts) == 3 {
		// PS3.18 spells the functions linear, linear-exact and sigmoid.
		fn := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(parts[2])), "-", "_")
		win.Function = WindowFunction(fn)
	}
	if err := win.Valid(); err != nil {
		return Window{}, err
	}
	return win, nil
}

// String formats the window as the window parameter takes it.
func (w Window) String() string {
	fn := w.Function
	if fn == "" {
		fn = Linear
	}
	return strconv.FormatFloat(w.Center, 'g', -1, 64) + "," + strconv.FormatFloat(w.Width, 'g', -1, 64) + "," + string(fn)
}

// Apply maps a modality value x to an output value in [0, 255] following
// PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1
// (SIGMOID), before rounding.
func (w Window) Apply(x float64) float64 {
	const ymax = 255.0
	c, wd := w.Center, w.Width
	switch w.Function {
	case LinearExact:
		switch {
		case x <= c-wd/2:
			return 0
		case x > c+wd/2:
			return ymax
		}
		return ((x-c)/wd + 0.5) * ymax
	case Sigmoid:
		return ymax / (1 + math.Exp(-4*(x-c)/wd))
	}
	switch {
	case x <= c-0.5-(wd-1)/2:
		return 0
	case x > c-0.5+(wd-1)/2:
		return ymax
	}
	return ((x-(c-0.5))/(wd-1) + 0.5) * ymax
}

// DefaultWindow picks the window of a grayscale frame when none was asked
// for: the file's first window; for 8-bit data without rescale the
// identity; else the 0.5th to 99.5th percentiles of the frame's modality
// values, so that a few outliers (metal, air outside the body) do not wash
// the picture out. When the lowest value covers more than 5% of the frame
// it is background (padding outside a CT's circular field of view, air)
// and is left out of the statistics; so is the next lowest, once.
//
// A window from the file that leaves almost every pixel of the frame at
// one end (black or white) is not used: some PET files carry windows in
// other units than their rescaled values (L 30157 / W 54282 over values up
// to 12,100 shows a black frame). A PET frame then shows 0 to its maximum,
// the way nuclear medicine reads activity; other frames the percentiles.
func DefaultWindow(p *Params, r *Raster) Window {
	eightBit := p.BitsStored <= 8 && p.PixelRepresentation == 0 && p.RescaleSlope == 1 && p.RescaleIntercept == 0
	if len(p.Windows) == 0 && eightBit {
		return Window{Center: 127.5, Width: 255, Function: LinearExact}
	}
	lo, hi := percentiles(r.Values, 0.005, 0.995)
	mlo := float64(lo)*p.RescaleSlope + p.RescaleIntercept
	mhi := float64(hi)*p.RescaleSlope + p.RescaleIntercept
	if mlo > mhi {
		mlo, mhi = mhi, mlo
	}
	if len(p.Windows) > 0 {
		w := p.Windows[0]
		if w.Center-w.Width/2 < mhi && w.Center+w.Width/2 > mlo && !saturates(w, p, r, mlo) {
			return w
		}
	}
	if p.Modality == "PT" && len(r.Values) > 0 {
		top := modalityMax(p, r)
		if top > 0 {
			return Window{Center: top / 2, Width: top, Function: Linear}
		}
	}
	return Window{Center: (mlo + mhi) / 2, Width: max(mhi-mlo, 1), Function: Linear}
}

// saturatedShare is the share of a frame's foreground beyond which a
// window counts as showing almost nothing but one end.
const saturatedShare = 0.95

// saturates reports whether w puts more than saturatedShare of the
// foreground (modality values from floor up, so background is left out)
// at black or at white.
func saturates(w Window, p *Params, r *Raster, floor float64) bool {
	low, high := w.Center-w.Width/2, w.Center+w.Width/2
	var fg, below, above int
	for _, v := range r.Values {
		m := float64(v)*p.RescaleSlope + p.RescaleIntercept
		if m < floor {
			continue
		}
		fg++
		switch {
		case m <= low:
			below++
		case m >= high:
			above++
		}
	}
	limit := int(saturatedShare * float64(fg))
	return fg > 0 && (below > limit || above > limit)
}

// modalityMax is the largest modality value of a frame.
func modalityMax(p *Params, r *Raster) float64 {
	lo, hi := slices.Min(r.Values), slices.Max(r.Values)
	a := float64(lo)*p.RescaleSlope + p.RescaleIntercept
	b := float64(hi)*p.RescaleSlope + p.RescaleIntercept
	return max(a, b)
}

// percentiles returns the stored values at two quantiles using a histogram
// over the value range (at most 2^16 bins for 16-bit data), leaving out
// the lowest value when it is background (see DefaultWindow).
func percentiles(v []int32, qlo, qhi float64) (int32, int32) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi := slices.Min(v), slices.Max(v)
	hist := make([]int, int(hi-lo)+1)
	for _, x := range v {
		hist[x-lo]++
	}
	// Background: up to two lowest values (padding outside the field of
	// view, then air) that each cover more than 5% of what is left.
	total, first := len(v), 0
	for range 2 {
		for first < len(hist) && hist[first] == 0 {
			first++
		}
		if first == len(hist) {
			break
		}
		if c := hist[first]; c > total/20 && c < total {
			total -= c
			first++
		}
	}
	at := func(q float64) int32 {
		target := int(q * float64(total-1))
		n := 0
		for i := first; i < len(hist); i++ {
			c := hist[i]
			n += c
			if n > target {
				return lo + int32(i)
			}
		}
		return hi
	}
	return at(qlo), at(qhi)
}
