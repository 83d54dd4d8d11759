package codectest

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/codec"
)

// Hostile is one bad input for a decoder: the bytes, the frame they are
// decoded for, and a phrase the error must contain ("" for any).
type Hostile struct {
	Name string
	Src  []byte
	F    codec.Frame
	Want string
}

// RefuseAll decodes every case with d and fails unless each is an error
// wrapping codec.ErrInvalid or codec.ErrUnsupported that says its phrase.
func RefuseAll(t *testing.T, d codec.Decoder, cases []Hostile) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, err := d.Decode(c.Src, c.F)
			if !errors.Is(err, codec.ErrInvalid) && !errors.Is(err, codec.ErrUnsupported) {
				t.Fatalf("err %v, want ErrInvalid or ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), c.Want) {
				t.Errorf("err %q does not say %q", err, c.Want)
			}
			t.Log(err)
		})
	}
}
