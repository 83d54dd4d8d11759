package fedapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/recognition"
)

// Search is middleware that turns GET {root}/studies with a federation
// scope (the "federation" parameter or the X-Federation-Scope header)
// into a federated search: the peers are asked in parallel while the
// local search runs; the answers are merged (local first, de-duplicated
// by StudyInstanceUID, each result marked with its holding gateway) and a
// Warning header names each peer that failed. Who may fan out is
// access.MayFanOut (clinicians and admins; a peer's request never does).
func (a *API) Search(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodGet || c.Path() != a.root()+"/studies" {
			return next(c)
		}
		qp := c.QueryParams() // echo's cached values: what the QIDO handler reads
		spec, inQuery := qp.Get(Param), qp.Has(Param)
		if !inQuery {
			spec = r.Header.Get(HeaderScope)
		}
		if !inQuery && spec == "" {
			return next(c)
		}
		qp.Del(Param)
		r.URL.RawQuery = qp.Encode()
		if s := strings.ToLower(strings.TrimSpace(spec)); s == "false" || s == "none" || s == "0" {
			return next(c)
		}
		p, authed := auth.FromContext(r.Context())
		if err := access.MayFanOut(p, authed); err != nil {
			return err
		}
		peers, err := a.Fed.Scope(spec)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		who := asking(p, recognition.AskingFrom(ctx))
		query := cloneValues(qp)
		done := make(chan []federation.Answer, 1)
		go func() { done <- a.Fed.Search(ctx, peers, query, who) }()

		rec := newRecorder()
		orig := c.Response()
		c.SetResponse(echo.NewResponse(rec, c.Echo()))
		err = next(c)
		c.SetResponse(orig)
		if err != nil {
			cancel()
			<-done
			return err
		}
		answers := <-done
		if rec.status != http.StatusOK {
			return rec.replay(orig)
		}
		local, err := federation.DecodeLocal(rec.body.Bytes())
		if err != nil {
			return err
		}
		root := ""
		if a.base != nil {
			root = a.base(c)
		}
		items, warnings := a.Fed.Merge(local, answers, root)
		// limit bounds each gateway's part and the merged answer.
		if n, err := strconv.Atoi(qp.Get("limit")); err == nil && n > 0 && len(items) > n {
			items = items[:n]
			if !strings.Contains(strings.Join(rec.header.Values("Warning"), " "), "additional results") {
				warnings = append(warnings, `299 gateway "There are additional results that can be requested"`)
			}
		}
		for k, vs := range rec.header {
			if k == "Content-Length" || k == "Content-Type" {
				continue
			}
			for _, v := range vs {
				orig.Header().Add(k, v)
			}
		}
		for _, w := range warnings {
			orig.Header().Add("Warning", w)
		}
		if len(items) == 0 {
			return c.Blob(http.StatusOK, "application/dicom+json", []byte("[]"))
		}
		b, err := json.Marshal(items)
		if err != nil {
			return fmt.Errorf("encode federated answer: %w", err)
		}
		return c.Blob(http.StatusOK, "application/dicom+json", b)
	}
}

func cloneValues(v map[string][]string) map[string][]string {
	out := make(map[string][]string, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// recorder captures the local QIDO answer (which the handler builds in
// memory anyway).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// replay writes a captured answer unchanged.
func (r *recorder) replay(w *echo.Response) error {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(r.status)
	_, err := w.Write(r.body.Bytes())
	return err
}
