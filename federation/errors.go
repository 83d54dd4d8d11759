package federation

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors callers test with errors.Is.
var (
	// ErrUnknownPeer: no peer of that name is configured (404).
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrBadScope: a federation scope names no peer or an unknown one (400).
	ErrBadScope = errors.New("invalid federation scope")
	// ErrConfig: the peers file or the identity is wrong.
	ErrConfig = errors.New("invalid federation configuration")
	// ErrPeer: a peer failed to answer properly; see PeerError.
	ErrPeer = errors.New("peer failed")
)

// Failure kinds of a PeerError.
const (
	KindTimeout     = "timeout"     // the per-peer deadline passed
	KindUnreachable = "unreachable" // connection refused, reset, DNS...
	KindStatus      = "status"      // the peer answered an error status
	KindProvenance  = "provenance"  // the holding gateway's signature is missing or wrong
	KindInvalid     = "invalid"     // the answer is malformed, too large or has bad UIDs
	KindBusy        = "busy"        // too many requests to that peer in flight here
	KindCanceled    = "canceled"    // the asking client went away
)

// PeerError is a peer's failure. Its message names the peer and a short
// reason, never the peer's URL or body, so it can go into a Warning
// header and an error answer.
type PeerError struct {
	Peer   string
	Kind   string
	Status int    // with KindStatus: what the peer answered
	Detail string // a short explanation, safe to show
}

func (e *PeerError) Error() string {
	s := fmt.Sprintf("peer %s failed: %s", e.Peer, e.Kind)
	if e.Kind == KindStatus {
		s = fmt.Sprintf("peer %s failed: answered %d", e.Peer, e.Status)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap makes errors.Is(err, ErrPeer) true.
func (e *PeerError) Unwrap() error { return ErrPeer }

// HTTPStatus is the status the asking gateway answers with when a
// retrieve through a peer fails: the peer's own 400/404/406/410 (the
// client's request or the peer's visibility), 504 on timeout, 503 when
// this gateway has too many requests to that peer in flight, else 502.
func (e *PeerError) HTTPStatus() int {
	switch e.Kind {
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindBusy:
		return http.StatusServiceUnavailable
	case KindCanceled:
		return 499
	case KindStatus:
		switch e.Status {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusNotAcceptable, http.StatusGone:
			return e.Status
		}
	}
	return http.StatusBadGateway
}

// Warning is the PS3.18 Warning header value naming a failed peer, e.g.
// `299 gateway "peer shanghai failed: timeout"`.
func Warning(err error) string {
	msg := strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '\''
		}
		return r
	}, err.Error())
	return `299 gateway "` + msg + `"`
}

// ErrBadPath: a proxied path is not a DICOMweb resource of a study (400).
var ErrBadPath = errors.New("invalid federated path")
