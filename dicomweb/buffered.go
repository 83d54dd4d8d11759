package dicomweb

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
)

// bufferedMax is the largest answer held back to be sent with a
// Content-Length in one write; larger answers are streamed from there on.
const bufferedMax = 4 << 20

var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// bufferedAnswer sends what fn writes with status and content type: small
// answers whole, with a Content-Length (no chunked encoding, one write),
// large ones streamed. An error before anything was sent is returned
// untouched, so it still becomes a proper error answer.
func bufferedAnswer(c echo.Context, status int, contentType string, fn func(w io.Writer) error) error {
	buf := answerBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= bufferedMax {
			answerBufs.Put(buf)
		}
	}()
	w := &spillWriter{c: c, buf: buf, status: status, contentType: contentType}
	if err := fn(w); err != nil {
		if !w.streaming {
			return err
		}
		// Headers are gone: all that can be done is to cut the answer short.
		panic(http.ErrAbortHandler)
	}
	if w.streaming {
		return nil
	}
	h := c.Response().Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// spillWriter buffers up to bufferedMax, then sends the headers and
// streams.
type spillWriter struct {
	c           echo.Context
	buf         *bytes.Buffer
	status      int
	contentType string
	streaming   bool
}

func (w *spillWriter) Write(p []byte) (int, error) {
	if !w.streaming && w.buf.Len()+len(p) <= bufferedMax {
		return w.buf.Write(p)
	}
	if !w.streaming {
		w.streaming = true
		w.c.Response().Header().Set("Content-Type", w.contentType)
		w.c.Response().WriteHeader(w.status)
		if _, err := w.c.Response().Write(w.buf.Bytes()); err != nil {
			return 0, err
		}
	}
	return w.c.Response().Write(p)
}
