// Package codecs builds the codec.Set this binary has: the pure-Go codecs
// always, and the cgo bindings of Debian's libraries (codec/openjpeg,
// codec/charls) when it is built with the `cgocodecs` tag. The wiring
// (cmd/gateway) calls New once and passes the set on; Missing says what
// the build cannot decode, for the start log and /readyz.
package codecs

import (
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/jpeg"
	"github.com/imgcloud/gateway/codec/rle"
)

// New returns the codecs of this build.
func New() *codec.Set {
	s := codec.NewSet()
	s.AddDecoder(jpeg.Decoder{}, codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1)
	s.AddDecoder(rle.Decoder{}, codec.RLELossless)
	s.AddEncoder(rle.Encoder{}, codec.RLELossless)
	addCgo(s)
	return s
}

// Cgo is true when the build has the cgo codecs (the cgocodecs tag).
const Cgo = withCgo

// names are the compressed transfer syntaxes a gateway is expected to
// decode, and what they are called.
var names = []struct{ uid, name string }{
	{codec.JPEGBaseline, "JPEG Baseline"},
	{codec.JPEGExtended, "JPEG Extended"},
	{codec.JPEGLossless, "JPEG Lossless"},
	{codec.JPEGLosslessSV1, "JPEG Lossless SV1"},
	{codec.JPEGLSLossless, "JPEG-LS Lossless"},
	{codec.JPEGLSNear, "JPEG-LS Near-Lossless"},
	{codec.JPEG2000Lossless, "JPEG 2000 Lossless"},
	{codec.JPEG2000, "JPEG 2000"},
	{codec.HTJ2KLossless, "HTJ2K Lossless"},
	{codec.HTJ2KLosslessRPCL, "HTJ2K Lossless RPCL"},
	{codec.HTJ2K, "HTJ2K"},
	{codec.RLELossless, "RLE Lossless"},
}

// Missing lists the compressed syntaxes s has no decoder for, each as
// "UID (name)", in the order of the standard.
func Missing(s *codec.Set) []string {
	var out []string
	for _, n := range names {
		if _, ok := s.Decoder(n.uid); !ok {
			out = append(out, n.uid+" ("+n.name+")")
		}
	}
	return out
}
