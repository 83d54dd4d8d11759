package dicomweb

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/internal/idleread"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/render"
)

// Errors of the HTTP layer itself.
var (
	// errNotAcceptable: the Accept header cannot be met (406).
	errNotAcceptable = errors.New("not acceptable")
	// errUnsupportedMedia: the request's Content-Type is not one this
	// resource takes (415).
	errUnsupportedMedia = errors.New("unsupported media type")
	// errBadRequest: the request is malformed (400).
	errBadRequest = errors.New("bad request")
	// errTooManyParts: a STOW request holds more parts than allowed (413).
	errTooManyParts = errors.New("too many parts")
)

// httpError carries a status picked by a handler with a message for people.
type httpError struct {
	kind error
	msg  string
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return e.kind }

func notAcceptable(msg string) error { return &httpError{kind: errNotAcceptable, msg: msg} }
func unsupportedMedia(msg string) error {
	return &httpError{kind: errUnsupportedMedia, msg: msg}
}
func badRequest(msg string) error { return &httpError{kind: errBadRequest, msg: msg} }

// Status maps an error to its HTTP status: the one place where domain
// errors meet PS3.18's status codes.
func Status(err error) int {
	var he *echo.HTTPError
	var inv *archive.InvalidError
	var mbe *http.MaxBytesError
	var unsup *archive.UnsupportedError
	var unrender *render.UnsupportedError
	var peerErr *federation.PeerError
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, idleread.ErrIdle):
		return http.StatusRequestTimeout
	case errors.As(err, &mbe), errors.Is(err, archive.ErrTooLarge), errors.Is(err, errTooManyParts):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &inv), errors.Is(err, errBadRequest), errors.Is(err, archive.ErrBadBody):
		return http.StatusBadRequest
	case errors.Is(err, errNotAcceptable), errors.As(err, &unsup), errors.As(err, &unrender):
		return http.StatusNotAcceptable
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, archive.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, archive.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, archive.ErrUnavailable), errors.Is(err, diskspace.ErrFull):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499
	// Mutual recognition (package recognition, JSON API under /api/v1).
	case errors.Is(err, recognition.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, recognition.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, recognition.ErrNotRecognisable), errors.Is(err, recognition.ErrConflict):
		return http.StatusConflict
	// Federation (package federation, routes under /dicomweb/peers/).
	case errors.As(err, &peerErr):
		return peerErr.HTTPStatus()
	case errors.Is(err, federation.ErrUnknownPeer):
		return http.StatusNotFound
	case errors.Is(err, federation.ErrBadScope), errors.Is(err, federation.ErrBadPath):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// ErrorHandler writes errors as JSON {"status": N, "error": "..."} and logs
// server-side failures. Install it as echo's HTTPErrorHandler.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := Status(err)
		msg := err.Error()
		var he *echo.HTTPError
		if errors.As(err, &he) {
			if m, ok := he.Message.(string); ok {
				msg = m
			}
		}
		if code >= 500 {
			// Details stay in the log: they may name keys or values.
			rid := c.Response().Header().Get(echo.HeaderXRequestID)
			log.Error("request failed", "status", code, "err", err, "request_id", rid)
			msg = "internal error"
			if code == http.StatusServiceUnavailable {
				msg = "storage unavailable, retry later"
				if errors.Is(err, diskspace.ErrFull) {
					msg = "disk almost full: the gateway stores nothing (not even its audit trail) until an operator frees space; retry later"
				}
			}
			if pe := (*federation.PeerError)(nil); errors.As(err, &pe) {
				msg = pe.Error() // names the peer and why, never its URL
			}
			msg += " (request id " + rid + ")"
		}
		if code == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", "5")
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, map[string]any{"status": code, "error": msg})
	}
}
