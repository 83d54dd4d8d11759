//go:build cgocodecs && cgo

package codecs

import (
	"slices"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/charls"
	"github.com/imgcloud/gateway/codec/openjpeg"
)

const withCgo = true

// addCgo registers the bindings of libopenjp2 and libcharls.
func addCgo(s *codec.Set) {
	for _, ts := range openjpeg.Syntaxes {
		s.AddDecoder(openjpeg.Decoder{Lossy: slices.Contains(openjpeg.LossySyntaxes, ts)}, ts)
	}
	s.AddEncoder(openjpeg.Encoder{}, codec.JPEG2000Lossless)
	s.AddDecoder(charls.Decoder{}, charls.Syntaxes...)
	s.AddEncoder(charls.Encoder{}, codec.JPEGLSLossless)
}
