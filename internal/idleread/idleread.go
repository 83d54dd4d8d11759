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
			ctl := http.NewResponseController(c.Response())
			r := &reader{rc: req.Body, ctl: ctl, idle: idle, mark: time.Now()}
			req.Body = r
			defer r.clear()
			return next(c)
		}
	}
}

// reader moves the connection's read deadline to idle after the last
// time MinProgress bytes had arrived.
type reader struct {
	rc    io.ReadCloser
	ctl   *http.ResponseController
	idle  time.Duration
	mark  time.Time // when the current progress window began
	since int       // bytes read since mark
	off   bool      // the connection has no deadlines (e.g. a test recorder)
	ended bool      // the body was read to its end, failed or stalled
}

func (r *reader) Read(p []byte) (int, error) {
	if !r.off && !r.ended {
		if err := r.ctl.SetReadDeadline(r.mark.Add(r.idle)); err != nil {
			r.off = true
		}
	}
	n, err := r.rc.Read(p)
	r.since += n
	if r.since >= MinProgress {
		r.mark, r.since = time.Now(), 0
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.ended = true
		return n, fmt.Errorf("%w: less than %d bytes arrived in %s", ErrIdle, MinProgress, r.idle)
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
