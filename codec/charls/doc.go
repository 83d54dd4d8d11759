// Package charls decodes JPEG-LS frames, lossless and near-lossless
// (transfer syntaxes 1.2.840.10008.1.2.4.80 and .81), and encodes lossless
// ones (.80) through Debian's libcharls (CharLS 2.4), bound with cgo. The
// binding is built only with the `cgocodecs` build tag (and cgo enabled);
// without it this package is empty (see codec/codecs).
//
// The decoder reads the frame header first and refuses a stream whose
// size, component count, precision or NEAR parameter does not fit the
// frame's attributes before it allocates for the pixels; whatever the
// interleave mode of the stream (none, line, sample), the pixels come out
// interleaved as native pixel data holds them.
package charls
