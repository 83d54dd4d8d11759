// Package idleread cuts request bodies that stop arriving: a client that
// sends a few bytes and then stalls (or trickles) would otherwise hold a
// connection, a handler and its spool file for as long as it likes. A
// whole-request ReadTimeout would also cut large uploads at normal speed,
// so the deadline moves with the data instead.
package idleread

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// ErrIdle is returned (wrapped) by a body read that made too little
// progress within the idle timeout (408).
var ErrIdle = errors.New("request body stalled")

// MinProgress is how many bytes must arrive to move the deadline on: a
// body must bring at least this much per idle period, so a trickle of a
// byte now and then does not keep it alive.
const MinProgress = 1024

// Middleware wraps every request body so that a read fails with ErrIdle
// once idle passes without MinProgress bytes arriving (or the end). The
// connection's read deadline is set through http.ResponseController, so
// the read itself is interrupted; a zero idle turns the check off.
// Register it before middleware that wraps the response writer.
func Middleware(idle time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if idle <= 0 {
			return next
		}
		return func(c echo.Context) error {
			req := c.Request()
			if req.Body == nil || req.Body == http.NoBody {
				return next(c)
			}
			// The writer as the server gave it: middleware that runs later
			// may wrap it in writers that cannot set deadlines.
			ctl := http.NewResponseController(c.Response().Writer)
			r := &reader{rc: req.Body, ctl: ctl, idle: idle, now: time.Now}
			req.Body = r
			defer r.clear()
			return next(c)
		}
	}
}

// reader gives each progress window idle of waiting for the client. Only
// time spent inside Read counts: the handler may work between reads (an
// object upload, an fsync) for longer than idle without the client being
// at fault, since its bytes then wait in the socket's buffers.
type reader struct {
	rc     io.ReadCloser
	ctl    *http.ResponseController
	idle   time.Duration
	now    func() time.Time
	waited time.Duration // time spent in Read in the current window
	since  int           // bytes read in the current window
	off    bool          // the connection has no deadlines (e.g. a test recorder)
	ended  bool          // the body was read to its end, failed or stalled
}

func (r *reader) Read(p []byte) (int, error) {
	start := r.now()
	if !r.off && !r.ended {
		if r.waited >= r.idle {
			r.ended = true
			return 0, r.stalled()
		}
		if err := r.ctl.SetReadDeadline(start.Add(r.idle - r.waited)); err != nil {
			r.off = true
		}
	}
	n, err := r.rc.Read(p)
	r.waited += r.now().Sub(start)
	r.since += n
	if r.since >= MinProgress {
		r.waited, r.since = 0, 0
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.ended = true
		return n, r.stalled()
	case err != nil && !r.ended:
		// The end: the server goes on reading the connection (for the
		// client going away, then for the next request), which must not
		// inherit this deadline.
		r.ended = true
		if !r.off {
			_ = r.ctl.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

func (r *reader) stalled() error {
	if !r.off {
		// Leave the deadline in the past (see clear).
		_ = r.ctl.SetReadDeadline(time.Unix(1, 0))
	}
	return fmt.Errorf("%w: less than %d bytes arrived in %s", ErrIdle, MinProgress, r.idle)
}

func (r *reader) Close() error { return r.rc.Close() }

// clear runs when the handler returns. A stalled body keeps its past
// deadline, so the server's own read of what is left fails at once and
// the connection is closed; a body not read to its end gets one more
// idle period for that read (net/http discards up to 256 KiB of it).
func (r *reader) clear() {
	if r.off || r.ended {
		return
	}
	_ = r.ctl.SetReadDeadline(time.Now().Add(r.idle))
}
