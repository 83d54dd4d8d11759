package respond_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/internal/diskspace"
	"github.com/imgcloud/gateway/internal/idleread"
	"github.com/imgcloud/gateway/internal/outage"
	"github.com/imgcloud/gateway/internal/ratelimit"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/render"
	"github.com/imgcloud/gateway/share"
)

// TestHandlerMapping runs every error kind the gateway's handlers return
// through a real echo server with the responder installed, and checks the
// status, the JSON body {"status", "error"}, the headers and, for server
// faults, that nothing of the error shows and the log has it under the
// request id.
func TestHandlerMapping(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("do something: %w", err) }
	internal := "key studies/1.2.3/secret" // must never reach a client
	tests := []struct {
		name   string
		err    error
		status int
		// msg is the whole message below 500, the start of it from 500
		// (the request id follows).
		msg        string
		retryAfter string
	}{
		{"unauthenticated", fmt.Errorf("%w: token expired", auth.ErrUnauthenticated), 401, "unauthenticated: token expired", ""},
		{"forbidden", respond.New(auth.ErrForbidden, "a patient acts only for themself"), 403, "a patient acts only for themself", ""},
		{"token request invalid", fmt.Errorf("%w: a patient token needs a person key", auth.ErrInvalid), 400, "invalid token request: a patient token needs a person key", ""},
		{"token not found", fmt.Errorf("%w: abc", auth.ErrNotFound), 404, "no such token: abc", ""},
		{"rate limited", &ratelimit.Error{Msg: "rate limit exceeded; slow down", RetryAfter: time.Second}, 429, "rate limit exceeded; slow down", "1"},
		{"rate limited rounds up", &ratelimit.Error{Msg: "wait", RetryAfter: 1500 * time.Millisecond}, 429, "wait", "2"},
		{"idle body", wrap(idleread.ErrIdle), 408, "do something: request body stalled", ""},
		{"max bytes", wrap(&http.MaxBytesError{Limit: 10}), 413, "do something: http: request body too large", ""},
		{"archive too large", wrap(archive.ErrTooLarge), 413, "do something: too large", ""},
		{"too large", respond.TooLarge("more than 3 parts"), 413, "more than 3 parts", ""},
		{"echo error", echo.NewHTTPError(http.StatusMethodNotAllowed, "method not allowed"), 405, "method not allowed", ""},
		{"bad request", respond.BadRequest("limit must be a non-negative integer"), 400, "limit must be a non-negative integer", ""},
		{"archive invalid", wrap(&archive.InvalidError{Field: "StudyInstanceUID", Reason: "missing"}), 400, "", ""},
		{"archive bad body", wrap(archive.ErrBadBody), 400, "do something: unreadable request body", ""},
		{"not acceptable", respond.NotAcceptable("metadata is served as application/dicom+json only"), 406, "metadata is served as application/dicom+json only", ""},
		{"archive unsupported", &archive.UnsupportedError{Reason: "no such syntax"}, 406, "no such syntax", ""},
		{"render unsupported", &render.UnsupportedError{Reason: "cannot render"}, 406, "", ""},
		{"archive undecodable", fmt.Errorf("frame 1 of instance 1.2 (RLE Lossless): %w: segment 2 too short", archive.ErrUndecodable), 422, "frame 1 of instance 1.2 (RLE Lossless): stored pixel data does not decode: segment 2 too short", ""},
		{"render undecodable", fmt.Errorf("%w: truncated", render.ErrUndecodable), 422, "stored pixel data does not decode: truncated", ""},
		{"unsupported media", respond.UnsupportedMedia("Content-Type is missing"), 415, "Content-Type is missing", ""},
		{"not implemented", respond.New(respond.ErrNotImplemented, "the report needs the registry"), 501, "internal error", ""},
		{"archive not found", wrap(archive.ErrNotFound), 404, "do something: not found", ""},
		{"archive conflict", wrap(archive.ErrConflict), 409, "do something: conflict", ""},
		{"storage unavailable", fmt.Errorf("%s: %w", internal, archive.ErrUnavailable), 503, "storage unavailable, retry later", "5"},
		{"disk full", fmt.Errorf("%s: %w", internal, diskspace.ErrFull), 503, "disk almost full: the gateway stores nothing", "5"},
		{"index database away", fmt.Errorf("%w: %w", auth.ErrUnauthenticated, fmt.Errorf("get record: %w: %s", outage.ErrUnavailable, internal)), 503, "index database unavailable, retry later", "5"},
		{"client gone", wrap(context.Canceled), 499, "do something: context canceled", ""},
		{"recognition invalid", fmt.Errorf("%w: JSON body: EOF", recognition.ErrInvalid), 400, "invalid input: JSON body: EOF", ""},
		{"recognition not found", wrap(recognition.ErrNotFound), 404, "do something: not found", ""},
		{"not recognisable", wrap(recognition.ErrNotRecognisable), 409, "do something: study is not recognisable", ""},
		{"recognition conflict", wrap(recognition.ErrConflict), 409, "do something: conflict", ""},
		{"consent invalid", fmt.Errorf("%w: until must be after from", consent.ErrInvalid), 400, "invalid consent: until must be after from", ""},
		{"consent not found", fmt.Errorf("%w: c1", consent.ErrNotFound), 404, "consent not found: c1", ""},
		{"AE invalid", fmt.Errorf("%w: AE X: host is required", access.ErrAEInvalid), 400, "invalid AE: AE X: host is required", ""},
		{"AE not found", fmt.Errorf("AE %q: %w", "X", access.ErrAENotFound), 404, `AE "X": AE not found`, ""},
		{"AE read-only", fmt.Errorf("%w: change it there", access.ErrAEReadOnly), 409, "AE defined in the registry file: change it there", ""},
		{"share invalid", fmt.Errorf("%w: pin too short", share.ErrInvalid), 400, "invalid share: pin too short", ""},
		{"share not found", share.ErrNotFound, 404, "share not found", ""},
		{"share PIN required", share.ErrPINRequired, 400, "PIN required", ""},
		{"share invalid token", share.ErrInvalidToken, 404, "invalid share token", ""},
		{"share expired", share.ErrExpired, 410, "share link expired", ""},
		{"share revoked", share.ErrRevoked, 410, "share link revoked", ""},
		{"share used up", share.ErrUsedUp, 410, "share link used up", ""},
		{"share locked", share.ErrLocked, 403, "share link locked after wrong PINs", ""},
		{"share wrong PIN", share.ErrWrongPIN, 403, "wrong PIN", ""},
		{"peer timeout", wrap(&federation.PeerError{Peer: "sh", Kind: federation.KindTimeout}), 504, "peer sh failed: timeout", ""},
		{"peer busy", &federation.PeerError{Peer: "sh", Kind: federation.KindBusy}, 503, "peer sh failed: busy", "5"},
		{"peer answered 404", &federation.PeerError{Peer: "sh", Kind: federation.KindStatus, Status: 404}, 404, "peer sh failed: answered 404", ""},
		{"peer unreachable", &federation.PeerError{Peer: "sh", Kind: federation.KindUnreachable}, 502, "peer sh failed: unreachable", ""},
		{"unknown peer", wrap(federation.ErrUnknownPeer), 404, "do something: unknown peer", ""},
		{"bad scope", wrap(federation.ErrBadScope), 400, "do something: invalid federation scope", ""},
		{"bad path", wrap(federation.ErrBadPath), 400, "do something: invalid federated path", ""},
		{"anything else", errors.New(internal), 500, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := echo.New()
			e.HTTPErrorHandler = respond.Handler(slog.New(slog.NewJSONHandler(&logs, nil)))
			e.Use(middleware.RequestID())
			e.GET("/x", func(echo.Context) error { return tt.err })

			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.status)
			}
			if got, want := respond.Status(tt.err), tt.status; got != want {
				t.Errorf("Status: got %d, want %d", got, want)
			}
			var body struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if got := rec.Header().Get(echo.HeaderContentType); !strings.HasPrefix(got, echo.MIMEApplicationJSON) {
				t.Errorf("Content-Type: got %q, want JSON", got)
			}
			if body.Status != tt.status {
				t.Errorf("body status: got %d, want %d", body.Status, tt.status)
			}
			if got, want := rec.Header().Get("Retry-After"), tt.retryAfter; got != want {
				t.Errorf("Retry-After: got %q, want %q", got, want)
			}
			rid := rec.Header().Get(echo.HeaderXRequestID)
			switch {
			case tt.status < 500:
				want := tt.msg
				if want == "" {
					want = tt.err.Error()
				}
				if body.Error != want {
					t.Errorf("message: got %q, want %q", body.Error, want)
				}
				if logs.Len() != 0 {
					t.Errorf("a client error was logged: %s", logs.String())
				}
			default:
				if !strings.HasPrefix(body.Error, tt.msg) || !strings.HasSuffix(body.Error, " (request id "+rid+")") || rid == "" {
					t.Errorf("message: got %q, want %q... (request id %s)", body.Error, tt.msg, rid)
				}
				if strings.Contains(body.Error, "secret") {
					t.Errorf("message leaks the error: %q", body.Error)
				}
				var line struct {
					Status    int    `json:"status"`
					Err       string `json:"err"`
					RequestID string `json:"request_id"`
				}
				if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
					t.Fatalf("log %q: %v", logs.String(), err)
				}
				if line.Status != tt.status || line.RequestID != rid || line.Err != tt.err.Error() {
					t.Errorf("log: got %+v, want status %d, request id %s, err %q", line, tt.status, rid, tt.err)
				}
			}
		})
	}
}

// TestHandlerHead checks that HEAD answers carry the status and headers
// but no body, and that an answer already begun is left alone.
func TestHandlerHead(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = respond.Handler(slog.New(slog.DiscardHandler))
	e.HEAD("/x", func(echo.Context) error { return fmt.Errorf("stat: %w", archive.ErrUnavailable) })
	e.GET("/begun", func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusOK)
		_, _ = c.Response().Write([]byte("partial"))
		return archive.ErrNotFound
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/x", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.Len() != 0 || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("HEAD: got %d %q Retry-After %q, want 503, no body, Retry-After 5", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/begun", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("committed: got %d %q, want 200 \"partial\"", rec.Code, rec.Body)
	}
}
