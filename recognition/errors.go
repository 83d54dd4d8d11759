package recognition

import (
	"errors"
	"fmt"
)

// Domain errors. Callers use errors.Is; the HTTP layer maps them to statuses
// (httpapi/respond).
var (
	// ErrNotFound: an institution, region, catalogue item, study or person
	// that a path names does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: bad input, such as an unknown item code in a request, a
	// malformed national identifier or a configuration file with errors (400).
	ErrInvalid = errors.New("invalid input")
	// ErrNotRecognisable: a decision was asked for a study whose
	// recognition tag, for the deciding institution, is not RECOGNISED (409).
	ErrNotRecognisable = errors.New("study is not recognisable")
	// ErrConflict: the change contradicts what is stored, such as deleting a
	// region still in use or linking a patient already linked to another
	// person (409).
	ErrConflict = errors.New("conflict")
)

// invalidf returns an ErrInvalid with a message for people.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// notFoundf returns an ErrNotFound with a message for people.
func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}
