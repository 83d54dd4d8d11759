package dcm

import (
	"math"
	"math/bits"
)

// frameTable works out where each frame of the top-level pixel data lies,
// from the image pixel attributes of ds. A video (transfer syntax ts is
// MPEG-2, H.264 or HEVC) is one stream however many frames it holds: its
// table has one entry, every fragment (PS3.5 8.2.5-8.2.8).
func frameTable(ds Dataset, p *pixelInfo, sy syntax, ts string) (FrameTable, error) {
	var ft FrameTable
	if !p.present {
		return ft, nil
	}
	rows, _ := ds.Int("00280010")
	cols, _ := ds.Int("00280011")
	if rows <= 0 || cols <= 0 {
		return ft, invalidf("pixel data is present but Rows is %d and Columns is %d", rows, cols)
	}
	frames := 1
	if e := ds["00280008"]; e != nil && len(e.Value) > 0 {
		n, ok := ds.Int("00280008")
		if !ok || n <= 0 || n > maxFrames {
			return ft, invalidf("NumberOfFrames %q is not between 1 and %d", ds.String("00280008"), maxFrames)
		}
		frames = n
	}
	if p.encapsulated && IsVideo(ts) {
		ft.Encapsulated = true
		if len(p.frags) == 0 {
			return ft, invalidf("encapsulated video has no fragments")
		}
		ft.Frames = group(p.frags, []int{0})
		return ft, nil
	}
	if p.encapsulated {
		ft.Encapsulated = true
		f, err := encapsulatedFrames(p, frames, sy)
		ft.Frames = f
		return ft, err
	}
	f, err := nativeFrames(ds, p, rows, cols, frames)
	ft.Frames = f
	return ft, err
}

// nativeFrames splits native pixel data into frames of equal size.
func nativeFrames(ds Dataset, p *pixelInfo, rows, cols, frames int) ([][]Range, error) {
	spp, ok := ds.Int("00280002")
	if !ok {
		spp = 1
	}
	if spp < 1 || spp > 4 {
		return nil, invalidf("SamplesPerPixel %d is not between 1 and 4", spp)
	}
	ba, ok := ds.Int("00280100")
	if !ok || ba < 1 || ba > 64 || (ba != 1 && ba%8 != 0) {
		return nil, invalidf("BitsAllocated %q is not 1 or a multiple of 8 up to 64", ds.String("00280100"))
	}
	frameBits, ok1 := mul(uint64(rows), uint64(cols), uint64(spp), uint64(ba))
	totalBits, ok2 := mul(frameBits, uint64(frames))
	if !ok1 || !ok2 {
		return nil, invalidf("Rows %d × Columns %d × SamplesPerPixel %d × BitsAllocated %d × NumberOfFrames %d overflows",
			rows, cols, spp, ba, frames)
	}
	want := int64((totalBits + 7) / 8)
	got := p.value.Length
	if got != want && !(want%2 == 1 && got == want+1) {
		return nil, invalidf("pixel data has %d bytes but Rows %d × Columns %d × SamplesPerPixel %d × BitsAllocated %d × NumberOfFrames %d needs %d",
			got, rows, cols, spp, ba, frames, want)
	}
	if frameBits%8 != 0 {
		// Bit-packed frames that do not start on byte boundaries: one range.
		return [][]Range{{{Offset: p.value.Offset, Length: want}}}, nil
	}
	size := int64(frameBits / 8)
	out := make([][]Range, frames)
	for i := range out {
		out[i] = []Range{{Offset: p.value.Offset + int64(i)*size, Length: size}}
	}
	return out, nil
}

// mul multiplies, reporting false when the product does not fit in int64.
func mul(v ...uint64) (uint64, bool) {
	r := uint64(1)
	for _, x := range v {
		hi, lo := bits.Mul64(r, x)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		r = lo
	}
	return r, true
}

// encapsulatedFrames groups the fragments of encapsulated pixel data into
// frames (PS3.5 A.4).
func encapsulatedFrames(p *pixelInfo, frames int, sy syntax) ([][]Range, error) {
	fr := p.frags
	if len(fr) == 0 {
		return nil, invalidf("encapsulated pixel data has no fragments")
	}
	// The EOT comes first: with its lengths it says where an odd frame
	// ends inside its padded fragment.
	var eotErr error
	if len(p.eot) > 0 {
		f, err := eotFrames(p, frames, sy)
		if err == nil {
			return f, nil
		}
		eotErr = err
	}
	switch {
	case len(fr) == frames:
		out := make([][]Range, frames)
		for i, f := range fr {
			out[i] = []Range{f.val}
		}
		return out, nil
	case len(fr) < frames:
		return nil, invalidf("encapsulated pixel data has %d fragments for %d frames", len(fr), frames)
	}
	var botErr error
	if eotErr != nil && len(p.bot) == 0 {
		botErr = eotErr // an empty BOT defers to the EOT: its error is the one to tell
	}
	if len(p.bot) > 0 {
		starts, err := botStarts(p, frames, sy)
		if err == nil {
			return group(fr, starts), nil
		}
		botErr = err
	}
	if frames == 1 {
		if botErr != nil {
			return nil, botErr
		}
		return group(fr, []int{0}), nil
	}
	starts := markerStarts(fr)
	if len(starts) == frames && starts[0] == 0 {
		return group(fr, starts), nil
	}
	if botErr != nil {
		return nil, botErr
	}
	return nil, invalidf("cannot split %d fragments into %d frames: no basic offset table, and the fragments do not start with JPEG or JPEG 2000 markers", len(fr), frames)
}

// eotFrames splits fragments into frames with the Extended Offset Table
// (PS3.3 C.7.6.3.1.8): 64-bit offsets of each frame's first fragment item
// from the first fragment's item, and, with (7FE0,0002), each frame's
// length without item headers, which may be one less than its fragments
// (an odd frame padded to even length): the frame is then served without
// the pad byte.
func eotFrames(p *pixelInfo, frames int, sy syntax) ([][]Range, error) {
	n := len(p.eot) / 8
	if n != frames {
		return nil, invalidf("extended offset table has %d entries for %d frames", n, frames)
	}
	if len(p.eotLengths) > 0 && len(p.eotLengths) != len(p.eot) {
		return nil, invalidf("extended offset table lengths have %d entries for %d offsets", len(p.eotLengths)/8, n)
	}
	base := p.frags[0].hdr
	starts := make([]int, 0, n)
	j := 0
	for i := 0; i < n; i++ {
		off := sy.order().Uint64(p.eot[8*i:])
		for j < len(p.frags) && uint64(p.frags[j].hdr-base) < off {
			j++
		}
		if j == len(p.frags) || uint64(p.frags[j].hdr-base) != off || (i == 0 && j != 0) || (i > 0 && j == starts[i-1]) {
			return nil, invalidf("extended offset table entry %d (offset %d) does not start a fragment", i, off)
		}
		starts = append(starts, j)
	}
	out := group(p.frags, starts)
	if len(p.eotLengths) == 0 {
		return out, nil
	}
	for i, rs := range out {
		want := sy.order().Uint64(p.eotLengths[8*i:])
		var got uint64
		for _, r := range rs {
			got += uint64(r.Length)
		}
		switch {
		case want == got:
		case want+1 == got:
			rs[len(rs)-1].Length--
		default:
			return nil, invalidf("extended offset table length of frame %d is %d bytes, its fragments hold %d", i+1, want, got)
		}
	}
	return out, nil
}

// botStarts maps the basic offset table to the index of each frame's
// first fragment.
func botStarts(p *pixelInfo, frames int, sy syntax) ([]int, error) {
	n := len(p.bot) / 4
	if n != frames {
		return nil, invalidf("basic offset table has %d entries for %d frames", n, frames)
	}
	base := p.frags[0].hdr
	starts := make([]int, 0, n)
	j := 0
	for i := 0; i < n; i++ {
		off := int64(sy.order().Uint32(p.bot[4*i:]))
		for j < len(p.frags) && p.frags[j].hdr-base < off {
			j++
		}
		if j == len(p.frags) || p.frags[j].hdr-base != off || (i == 0 && j != 0) || (i > 0 && j == starts[i-1]) {
			return nil, invalidf("basic offset table entry %d (offset %d) does not start a fragment", i, off)
		}
		starts = append(starts, j)
	}
	return starts, nil
}

// markerStarts lists the fragments that begin with a JPEG SOI (FFD8) or
// JPEG 2000 SOC (FF4F) marker.
func markerStarts(fr []fragment) []int {
	var starts []int
	for i, f := range fr {
		if f.headN >= 2 && f.head[0] == 0xFF && (f.head[1] == 0xD8 || f.head[1] == 0x4F) {
			starts = append(starts, i)
		}
	}
	return starts
}

// group makes frames of the fragments from each start to the next.
func group(fr []fragment, starts []int) [][]Range {
	out := make([][]Range, len(starts))
	for i, s := range starts {
		e := len(fr)
		if i+1 < len(starts) {
			e = starts[i+1]
		}
		for _, f := range fr[s:e] {
			out[i] = append(out[i], f.val)
		}
	}
	return out
}
