//go:build !cgocodecs || !cgo

package codecs

import "github.com/imgcloud/gateway/codec"

const withCgo = false

// addCgo adds nothing: this build has no cgo codecs (build with
// `-tags cgocodecs` and cgo for JPEG 2000, HTJ2K and JPEG-LS).
func addCgo(*codec.Set) {}
