// Package respond is the gateway's one error responder: handlers and
// middleware return errors (the domain packages' sentinels and types, or
// the request errors below), and Handler, installed as echo's
// HTTPErrorHandler, picks the status, the headers and a message a person
// understands. Server faults (5xx) never show their details: they are
// logged with the request id, which the answer names.
package respond

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/internal/idleread"
	"github.com/imgcloud/gateway/internal/outage"
	"github.com/imgcloud/gateway/internal/ratelimit"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/render"
	"github.com/imgcloud/gateway/share"
)

// Kinds of request errors that belong to no domain package: the request
// cannot be served as it was sent.
var (
	// ErrBadRequest: the request is malformed (400).
	ErrBadRequest = errors.New("bad request")
	// ErrNotAcceptable: the Accept header cannot be met (406).
	ErrNotAcceptable = errors.New("not acceptable")
	// ErrUnsupportedMedia: the request's Content-Type is not one the
	// resource takes (415).
	ErrUnsupportedMedia = errors.New("unsupported media type")
	// ErrTooLarge: the request holds more than the gateway takes in one
	// request (413).
	ErrTooLarge = errors.New("request too large")
	// ErrNotImplemented: this gateway was started without the part the
	// route needs (501).
	ErrNotImplemented = errors.New("not implemented")
)

// Error is an error of a kind the responder maps (a sentinel of this
// package or of a domain package) with the sentence shown to the caller.
type Error struct {
	kind error
	msg  string
}

// New returns an error of kind whose answer says msg.
func New(kind error, msg string) error { return &Error{kind: kind, msg: msg} }

func (e *Error) Error() string { return e.msg }

// Unwrap makes errors.Is(err, kind) true.
func (e *Error) Unwrap() error { return e.kind }

// BadRequest is a malformed request (400).
func BadRequest(msg string) error { return New(ErrBadRequest, msg) }

// NotAcceptable is an Accept header that cannot be met (406).
func NotAcceptable(msg string) error { return New(ErrNotAcceptable, msg) }

// UnsupportedMedia is a Content-Type the resource does not take (415).
func UnsupportedMedia(msg string) error { return New(ErrUnsupportedMedia, msg) }

// TooLarge is a request beyond a bound (413).
func TooLarge(msg string) error { return New(ErrTooLarge, msg) }

// StatusClientClosed is the status logged when the client went away
// before the answer (nginx's 499); nobody reads it but the logs.
const StatusClientClosed = 499

// Status maps an error to its HTTP status: the one place where errors
// meet status codes (PS3.18 for DICOMweb, the same codes for the JSON
// APIs). The order matters where one error is of two kinds: a limit on
// the body (413) or a stalled body (408) wins over what the handler made
// of the failed read.
func Status(err error) int {
	var (
		he       *echo.HTTPError
		mbe      *http.MaxBytesError
		limited  *ratelimit.Error
		inv      *archive.InvalidError
		unsup    *archive.UnsupportedError
		unrender *render.UnsupportedError
		peerErr  *federation.PeerError
	)
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, outage.ErrUnavailable):
		// First: whatever a domain made of a failed lookup (an unknown
		// token, a missing study), the database was away.
		return http.StatusServiceUnavailable
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case errors.As(err, &limited):
		return http.StatusTooManyRequests
	case errors.Is(err, idleread.ErrIdle):
		return http.StatusRequestTimeout
	case errors.As(err, &mbe), errors.Is(err, archive.ErrTooLarge), errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, ErrBadRequest), errors.As(err, &inv), errors.Is(err, archive.ErrBadBody):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotAcceptable), errors.As(err, &unsup), errors.As(err, &unrender):
		return http.StatusNotAcceptable
	case errors.Is(err, ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, archive.ErrUndecodable), errors.Is(err, render.ErrUndecodable):
		// The request is fine and the object is as received: its pixel
		// data cannot be made into what was asked (422, with the reason).
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, archive.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, archive.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, archive.ErrUnavailable), errors.Is(err, diskspace.ErrFull):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return StatusClientClosed
	// Mutual recognition (JSON API under /api/v1/recognition).
	case errors.Is(err, recognition.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, recognition.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, recognition.ErrNotRecognisable), errors.Is(err, recognition.ErrConflict):
		return http.StatusConflict
	// Consents (/api/v1/patient/consents).
	case errors.Is(err, consent.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, consent.ErrNotFound):
		return http.StatusNotFound
	// API tokens (/api/v1/admin/tokens).
	case errors.Is(err, auth.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound
	// Share links: the JSON API and the pages under /s/.
	case errors.Is(err, share.ErrInvalid), errors.Is(err, share.ErrPINRequired):
		return http.StatusBadRequest
	case errors.Is(err, share.ErrNotFound), errors.Is(err, share.ErrInvalidToken):
		return http.StatusNotFound
	case errors.Is(err, share.ErrExpired), errors.Is(err, share.ErrRevoked), errors.Is(err, share.ErrUsedUp):
		return http.StatusGone
	case errors.Is(err, share.ErrLocked), errors.Is(err, share.ErrWrongPIN):
		return http.StatusForbidden
	// Known DICOM AEs (/api/v1/admin/dicom-aes).
	case errors.Is(err, access.ErrAEInvalid):
		return http.StatusBadRequest
	case errors.Is(err, access.ErrAENotFound):
		return http.StatusNotFound
	case errors.Is(err, access.ErrAEReadOnly):
		return http.StatusConflict
	// Federation (routes under /dicomweb/peers/).
	case errors.As(err, &peerErr):
		return peerErr.HTTPStatus()
	case errors.Is(err, federation.ErrUnknownPeer):
		return http.StatusNotFound
	case errors.Is(err, federation.ErrBadScope), errors.Is(err, federation.ErrBadPath):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// Message is the sentence the caller reads for err answered with code.
// Below 500 it is the error's own text (domain errors are written for
// people); from 500 on it never shows internals, only what the caller can
// do, and names the request id rid under which the details are logged.
func Message(err error, code int, rid string) string {
	var he *echo.HTTPError
	if code < 500 {
		if errors.As(err, &he) {
			if m, ok := he.Message.(string); ok {
				return m
			}
		}
		return err.Error()
	}
	msg := "internal error"
	var pe *federation.PeerError
	switch {
	case errors.As(err, &pe):
		msg = pe.Error() // names the peer and why, never its URL
	case errors.Is(err, outage.ErrUnavailable):
		msg = "index database unavailable, retry later"
	case errors.Is(err, diskspace.ErrFull):
		msg = "disk almost full: the gateway stores nothing (not even its audit trail) until an operator frees space; retry later"
	case code == http.StatusServiceUnavailable:
		msg = "storage unavailable, retry later"
	}
	return msg + " (request id " + rid + ")"
}

// Headers sets the headers that go with err's answer: Retry-After on 429
// and 503. (WWW-Authenticate stays with the authentication middleware,
// which knows the scheme.)
func Headers(h http.Header, err error, code int) {
	var limited *ratelimit.Error
	switch {
	case errors.As(err, &limited):
		h.Set("Retry-After", strconv.Itoa(seconds(limited.RetryAfter)))
	case code == http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Handler writes errors as JSON {"status": N, "error": "..."} (HEAD
// answers have no body) and logs server faults with their request id.
// Install it as echo's HTTPErrorHandler.
func Handler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := Status(err)
		rid := c.Response().Header().Get(echo.HeaderXRequestID)
		if code >= 500 {
			// Details stay in the log: they may name keys or values.
			log.Error("request failed", "status", code, "err", err, "request_id", rid)
		}
		Headers(c.Response().Header(), err, code)
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, map[string]any{"status": code, "error": Message(err, code, rid)})
	}
}
