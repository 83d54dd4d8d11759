package rle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// native returns a frame of pixels with runs (as air around a body) and
// noise, so that both kinds of PackBits run are used.
func native(f codec.Frame, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, f.Size())
	for i := range b {
		if i%7 < 4 {
			b[i] = 0x10
		} else {
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []codec.Frame{
		{Rows: 7, Columns: 13, Samples: 1, BitsAllocated: 16, BitsStored: 16, Signed: true, Photometric: "MONOCHROME2"},
		{Rows: 64, Columns: 300, Samples: 1, BitsAllocated: 16, BitsStored: 12, Photometric: "MONOCHROME1"},
		{Rows: 5, Columns: 9, Samples: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "RGB"},
		{Rows: 33, Columns: 257, Samples: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"},
		{Rows: 4, Columns: 6, Samples: 3, BitsAllocated: 16, BitsStored: 16, Photometric: "RGB"},
	} {
		pix := native(f, uint64(f.Rows))
		enc, err := Encoder{}.Encode(pix, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc)%2 != 0 {
			t.Errorf("%+v: encoded frame has odd length %d", f, len(enc))
		}
		img, err := Decoder{}.Decode(enc, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if !bytes.Equal(img.Pixels, pix) {
			t.Errorf("%+v: round trip differs", f)
		}
		if img.Photometric != f.Photometric {
			t.Errorf("photometric %q, want %q", img.Photometric, f.Photometric)
		}
	}
}

// TestDecodeByHand decodes a frame built byte by byte from PS3.5 G: two
// segments (high then low byte) of three 16-bit pixels.
func TestDecodeByHand(t *testing.T) {
	frame := make([]byte, 64)
	binary.LittleEndian.PutUint32(frame, 2)
	binary.LittleEndian.PutUint32(frame[4:], 64)
	binary.LittleEndian.PutUint32(frame[8:], 68)
	frame = append(frame, 0xFE, 0x01, 0x80, 0x80) // high bytes: 1 repeated 3 times, two no-ops
	frame = append(frame, 0x02, 0x0A, 0x0B, 0x0C) // low bytes: literal 10, 11, 12
	f := codec.Frame{Rows: 1, Columns: 3, Samples: 1, BitsAllocated: 16, BitsStored: 16, Photometric: "MONOCHROME2"}
	img, err := Decoder{}.Decode(frame, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x0A, 1, 0x0B, 1, 0x0C, 1}; !bytes.Equal(img.Pixels, want) {
		t.Errorf("pixels % x, want % x", img.Pixels, want)
	}
}

func TestHostile(t *testing.T) {
	f := codec.Frame{Rows: 8, Columns: 8, Samples: 1, BitsAllocated: 16, BitsStored: 16, Photometric: "MONOCHROME2"}
	good, err := Encoder{}.Encode(native(f, 1), f)
	if err != nil {
		t.Fatal(err)
	}
	offsetPast := bytes.Clone(good)
	binary.LittleEndian.PutUint32(offsetPast[8:], uint32(len(good)+10))
	tooMany := bytes.Clone(good)
	binary.LittleEndian.PutUint32(tooMany, 16)
	oneSeg := bytes.Clone(good)
	binary.LittleEndian.PutUint32(oneSeg, 1)
	for name, tc := range map[string]struct {
		data []byte
		f    codec.Frame
	}{
		"truncated":         {good[:len(good)-20], f},
		"short header":      {good[:40], f},
		"offset past end":   {offsetPast, f},
		"16 segments":       {tooMany, f},
		"segment count":     {oneSeg, f},
		"larger than frame": {good, codec.Frame{Rows: 16, Columns: 8, Samples: 1, BitsAllocated: 16, BitsStored: 16}},
		"ybr 422":           {good, codec.Frame{Rows: 8, Columns: 8, Samples: 1, BitsAllocated: 16, BitsStored: 16, Photometric: "YBR_FULL_422"}},
	} {
		if _, err := (Decoder{}).Decode(tc.data, tc.f); !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := (Encoder{}).Encode(make([]byte, 10), f); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("encode of a short frame: err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	fr := codec.Frame{Rows: 4, Columns: 5, Samples: 1, BitsAllocated: 16, BitsStored: 16, Photometric: "MONOCHROME2"}
	seed, _ := Encoder{}.Encode(native(fr, 3), fr)
	f.Add(seed, 4, 5, 1, 16)
	f.Fuzz(func(t *testing.T, data []byte, rows, cols, samples, bits int) {
		fr := codec.Frame{Rows: rows % 300, Columns: cols % 300, Samples: samples, BitsAllocated: bits, BitsStored: bits, Photometric: "MONOCHROME2"}
		img, err := Decoder{}.Decode(data, fr)
		if err == nil && len(img.Pixels) != fr.Size() {
			t.Fatalf("decoded %d bytes for a frame of %d", len(img.Pixels), fr.Size())
		}
	})
}
