// Package openjpeg decodes JPEG 2000 and HTJ2K frames (transfer syntaxes
// 1.2.840.10008.1.2.4.90, .91 and .201 to .203) and encodes JPEG 2000
// lossless frames (.90) through Debian's libopenjp2 (OpenJPEG 2.5), bound
// with cgo. The binding is built only with the `cgocodecs` build tag (and
// cgo enabled); without it this package is empty and the gateway says at
// start which syntaxes it cannot decode (see codec/codecs).
//
// The decoder works from memory (no temporary files), accepts raw J2K
// codestreams and JP2 files, and checks the codestream's header against
// the frame's attributes before it decodes a tile, so that a frame
// declaring a larger image, other components or precisions than its data
// set is refused before the library allocates for it.
package openjpeg
