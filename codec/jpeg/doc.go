// Package jpeg decodes the JPEG transfer syntaxes of DICOM (PS3.5 A.4.1)
// in pure Go, written from ITU-T T.81:
//
//   - JPEG Lossless, Non-Hierarchical, Process 14 (1.2.840.10008.1.2.4.57)
//     with every selection value and point transform, and its selection
//     value 1 form (1.2.840.10008.1.2.4.70): 2 to 16 bits, decoded bit-exact;
//   - JPEG Baseline (1.2.840.10008.1.2.4.50) and Extended (1.2.840.10008.1.2.4.51):
//     8- and 12-bit sequential DCT with Huffman coding, any sampling factors.
//
// Lossy frames are reconstructed as the IJG library inside DCMTK's dcmdjpeg
// does by default (its integer inverse DCT, "fancy" triangular upsampling of
// 2:1 chroma, the JFIF YCbCr to RGB conversion when the data set says
// YBR_FULL or YBR_FULL_422), so its output and dcmdjpeg's agree to ±1
// (they are equal on every stream of the tests).
// Progressive, hierarchical and arithmetic-coded JPEG are ErrUnsupported.
//
// Signed samples (PixelRepresentation 1) narrower than their 8- or 16-bit
// container are sign-extended from min(precision, BitsStored) bits; a
// codestream as wide as the container gives back its words untouched, bits
// above BitsStored included, so lossless round trips stay bit-exact.
//
// Every codestream is checked against the frame's attributes, and each
// scan must be long enough to code its samples (a bit per lossless sample,
// two per DCT block), before any pixel memory is allocated: memory
// is bounded by the input's size as well as the frame's, and decoding does
// work proportional to the frame, whatever the input.
//
// A build registers the decoder in its codec.Set:
//
//	set := codec.NewSet()
//	set.AddDecoder(jpeg.Decoder{}, codec.JPEGBaseline, codec.JPEGExtended,
//		codec.JPEGLossless, codec.JPEGLosslessSV1)
package jpeg
