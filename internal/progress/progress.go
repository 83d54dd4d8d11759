// Package progress draws a small progress bar for long command-line work.
//
// On a terminal the bar is redrawn in place with a carriage return at most
// about ten times per second; on anything else (a pipe, a CI log, a file) a
// plain line is printed at every tenth of the total so logs stay readable.
package progress

import (
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// redrawEvery is the minimum delay between two redraws on a terminal.
const redrawEvery = 100 * time.Millisecond

// Bar is a progress bar. All methods are safe for concurrent use, and all are
// no-ops on a nil *Bar, so a caller with nothing to report can pass nil around.
type Bar struct {
	mu     sync.Mutex
	w      io.Writer
	label  string
	total  int64
	n      int64
	failed int64 // part of n that failed: shown apart, not in the rate
	bytes  bool
	tty    bool
	start  time.Time
	last   time.Time
	decile int64 // next tenth of the total to report when not on a terminal
	width  int   // length of the last line drawn on a terminal
	drawn  bool
	done   bool
	now    func() time.Time
}

// New returns a bar counting items up to total (0 when unknown) that writes to
// w. It returns nil when w is nil; every method of a nil *Bar does nothing.
func New(w io.Writer, total int64, label string) *Bar {
	if w == nil {
		return nil
	}
	b := &Bar{w: w, label: label, total: total, tty: isTerminal(w), now: time.Now}
	b.start = b.now()
	b.decile = 1
	return b
}

// NewBytes is like New, but counts and rates are shown as byte sizes.
func NewBytes(w io.Writer, total int64, label string) *Bar {
	b := New(w, total, label)
	if b != nil {
		b.bytes = true
	}
	return b
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}

// Add records n more units of work done and redraws when due.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.n += n
	b.maybeDraw()
}

// AddFailed records n more units of work that failed: they move the bar
// (the work is over) but are shown as failed and not counted in the rate,
// so an upload the server refuses does not look done at full speed.
func (b *Bar) AddFailed(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.n += n
	b.failed += n
	b.maybeDraw()
}

// SetTotal changes the expected total, for work whose size is learnt late.
func (b *Bar) SetTotal(total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
	b.decile = 1
	if total > 0 {
		b.decile = b.n*10/total + 1
	}
	b.maybeDraw()
}

// Finish draws the final state and ends the line. Later calls do nothing.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	now := b.now()
	if b.tty {
		b.drawTTY(now)
		io.WriteString(b.w, "\n")
		return
	}
	io.WriteString(b.w, b.doneLine(now)+"\n")
}

// maybeDraw redraws if enough time passed (terminal) or a new tenth of the
// total was reached (plain output). The caller holds b.mu.
func (b *Bar) maybeDraw() {
	now := b.now()
	if b.tty {
		complete := b.total > 0 && b.n >= b.total
		if b.drawn && now.Sub(b.last) < redrawEvery && !complete {
			return
		}
		b.drawTTY(now)
		return
	}
	if b.total <= 0 {
		return
	}
	reached := b.n * 10 / b.total
	if reached < b.decile || reached >= 10 {
		return
	}
	b.decile = reached + 1
	io.WriteString(b.w, b.line(now)+"\n")
}

// drawTTY rewrites the current terminal line. The caller holds b.mu.
func (b *Bar) drawTTY(now time.Time) {
	s := b.line(now)
	pad := ""
	if n := len(s); n < b.width {
		pad = strings.Repeat(" ", b.width-n)
	}
	b.width = len(s)
	b.last = now
	b.drawn = true
	io.WriteString(b.w, "\r"+s+pad)
}
