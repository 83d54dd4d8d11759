// Package archive is the gateway's DICOM service: it stores instances
// (object first, index last), answers searches from the index alone and
// reads instances, frames and bulk data back with range reads. It knows
// nothing of HTTP; dicomweb maps its errors to statuses.
package archive

import (
	"errors"
	"fmt"
)

// Domain errors. Callers use errors.Is / errors.As.
var (
	// ErrNotFound: the study, series, instance or frame does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the SOP Instance UID is stored already with other content.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: object storage or the index cannot serve now (503).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrTooLarge: an instance exceeds the configured size limit (413).
	ErrTooLarge = errors.New("too large")
	// ErrBadBody: the request body could not be read as sent (400, or 413
	// when the HTTP layer's size limit cut it).
	ErrBadBody = errors.New("unreadable request body")
)

// InvalidError reports bad input in a named field (400).
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// UnsupportedError reports a request the gateway understands but cannot
// satisfy, such as a transfer syntax it cannot transcode to (406 / 501).
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string { return e.Reason }
