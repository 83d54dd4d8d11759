package codecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// TestNew: the pure-Go JPEG decoder is always there; JPEG 2000, HTJ2K and
// JPEG-LS are there exactly when the build has the cgo codecs, and Missing
// names them otherwise.
func TestNew(t *testing.T) {
	s := New()
	for _, ts := range []string{codec.JPEGBaseline, codec.JPEGExtended, codec.JPEGLossless, codec.JPEGLosslessSV1, codec.RLELossless} {
		if _, ok := s.Decoder(ts); !ok {
			t.Errorf("no decoder for %s", ts)
		}
	}
	cgo := []string{codec.JPEGLSLossless, codec.JPEGLSNear, codec.JPEG2000Lossless, codec.JPEG2000,
		codec.HTJ2KLossless, codec.HTJ2KLosslessRPCL, codec.HTJ2K}
	missing := strings.Join(Missing(s), "; ")
	for _, ts := range cgo {
		_, ok := s.Decoder(ts)
		if ok != Cgo {
			t.Errorf("decoder for %s: %v, want %v (Cgo)", ts, ok, Cgo)
		}
		if strings.Contains(missing, ts+" (") == Cgo {
			t.Errorf("Missing %q: %s listed %v, want %v", missing, ts, !Cgo, !Cgo)
		}
	}
	if _, ok := s.Encoder(codec.RLELossless); !ok {
		t.Error("no RLE encoder")
	}
	if Cgo && !slices.Equal(s.Encodable(), []string{codec.JPEGLSLossless, codec.JPEG2000Lossless, codec.RLELossless}) {
		t.Errorf("encoders %v", s.Encodable())
	}
	if !Cgo && !strings.Contains(missing, "1.2.840.10008.1.2.4.90 (JPEG 2000 Lossless)") {
		t.Errorf("Missing %q does not name JPEG 2000 Lossless", missing)
	}
}
