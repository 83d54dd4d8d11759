// Package outage names the failure of a server the gateway depends on
// and cannot do without (the index database), so that the layer that
// meets it wraps it once and the HTTP responder answers 503 with
// Retry-After, whichever domain the error passed through.
package outage

import "errors"

// ErrUnavailable is wrapped by errors of a backing server that cannot
// serve now (down, unreachable, restarting, out of connections): the
// request may succeed when retried.
var ErrUnavailable = errors.New("index database unavailable")
