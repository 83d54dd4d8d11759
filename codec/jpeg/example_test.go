package jpeg_test

import (
	"fmt"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/jpeg"
)

// A build's wiring registers the decoder for the four JPEG syntaxes.
func Example() {
	set := codec.NewSet()
	set.AddDecoder(jpeg.Decoder{}, codec.JPEGBaseline, codec.JPEGExtended,
		codec.JPEGLossless, codec.JPEGLosslessSV1)
	fmt.Println(set.Decodable())
	// Output: [1.2.840.10008.1.2.4.50 1.2.840.10008.1.2.4.51 1.2.840.10008.1.2.4.57 1.2.840.10008.1.2.4.70]
}
