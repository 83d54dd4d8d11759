package main

import (
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/jpeg"
	"github.com/imgcloud/gateway/codec/rle"
)

// buildCodecs is the codec set of this build, given to the archive (which
// transcodes frames and instances with it, and renders through it).
func buildCodecs() *codec.Set {
	s := codec.NewSet()
	s.AddDecoder(rle.Decoder{}, codec.RLELossless)
	s.AddEncoder(rle.Encoder{}, codec.RLELossless)
	s.AddDecoder(jpeg.Decoder{}, codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1)
	return s
}
