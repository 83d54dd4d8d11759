package fedapi

import (
	"crypto/sha256"
	"hash"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
)

// Provenance is middleware that signs every answer to a peer's request in
// the X-Imgcloud-Provenance trailer (see package federation). Install it
// after the access middleware. Error answers are written here, so that
// they are signed too.
func (a *API) Provenance(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p, _ := auth.FromContext(r.Context())
		if _, ok := federation.IsPeer(p); !ok || r.Method == http.MethodHead {
			return next(c)
		}
		res := c.Response()
		w := &signingWriter{ResponseWriter: res.Writer, h: sha256.New()}
		res.Writer = w
		if err := next(c); err != nil {
			c.Error(err)
		}
		if !w.wrote {
			return nil
		}
		w.Header().Set(federation.HeaderProvenance, a.Fed.SignProvenance(r, w.status, w.contentType, w.h.Sum(nil)))
		return nil
	}
}

// signingWriter hashes the body and declares the provenance trailer. It
// drops Content-Length so that the answer is chunked and can carry a
// trailer.
type signingWriter struct {
	http.ResponseWriter
	h           hash.Hash
	wrote       bool
	status      int
	contentType string
}

func (w *signingWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote, w.status = true, code
		hd := w.ResponseWriter.Header()
		hd.Del("Content-Length")
		hd.Add("Trailer", federation.HeaderProvenance)
		w.contentType = hd.Get("Content-Type")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *signingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.h.Write(b[:n])
	return n, err
}

// Flush and Unwrap keep streaming and http.ResponseController working.
func (w *signingWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *signingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
