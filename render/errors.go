package render

import (
	"errors"
	"fmt"

	"github.com/imgcloud/gateway/dcm"
)

// ErrUndecodable wraps compressed pixel data that does not decode (corrupt
// or truncated, or another size than the attributes say): the stored
// object is as it was received, and no picture can be made of it.
var ErrUndecodable = errors.New("stored pixel data does not decode")

// UnsupportedError reports pixel data the gateway cannot render: a
// compressed transfer syntax it has no decoder for, or an image layout
// outside what Params accepts. The HTTP layer answers it with 406.
type UnsupportedError struct {
	// TransferSyntax is the stored syntax UID when that is the reason.
	TransferSyntax string
	Reason         string
}

func (e *UnsupportedError) Error() string {
	if e.TransferSyntax == "" {
		return "cannot render: " + e.Reason
	}
	return fmt.Sprintf("cannot render pixel data in transfer syntax %s (%s): %s",
		e.TransferSyntax, SyntaxName(e.TransferSyntax), e.Reason)
}

func unsupported(format string, args ...any) error {
	return &UnsupportedError{Reason: fmt.Sprintf(format, args...)}
}

// SyntaxName names well-known transfer syntaxes for error messages
// (dcm.SyntaxName).
func SyntaxName(uid string) string { return dcm.SyntaxName(uid) }
