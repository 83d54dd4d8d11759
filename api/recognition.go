package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/recognition"
)

// studyTag answers GET /recognition/studies/{study}: the tag for the
// asking institution and the stored outcome of the ingest check.
func (h *handlers) studyTag(c echo.Context) error {
	ctx := c.Request().Context()
	tag, err := h.svc.Tag(ctx, c.Param("study"), asking(c, ""))
	if err != nil {
		return err
	}
	out := map[string]any{"tag": tag}
	if e, err := h.svc.Eligibility(ctx, tag.Study); err == nil {
		out["eligibility"] = e
	}
	return ok(c, out)
}

// orderCheck answers POST /recognition/order-check. The patient is named
// in the body, never in the URL, so identifiers stay out of access logs.
func (h *handlers) orderCheck(c echo.Context) error {
	var req recognition.OrderRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	req.Institution = asking(c, req.Institution)
	res, err := h.svc.CheckOrder(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return ok(c, res)
}

// decide answers POST /recognition/decisions with the new record (201).
func (h *handlers) decide(c echo.Context) error {
	var req recognition.DecisionRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	req.Institution = asking(c, req.Institution)
	d, err := h.svc.Decide(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, d)
}

// listDecisions answers GET /recognition/decisions?study=&institution=.
func (h *handlers) listDecisions(c echo.Context) error {
	ds, err := h.svc.Decisions(c.Request().Context(), recognition.DecisionFilter{
		Study: c.QueryParam("study"), Institution: c.QueryParam("institution"),
	})
	if err != nil {
		return err
	}
	return ok(c, map[string]any{"decisions": ds})
}

// statistics answers GET /recognition/statistics?by=month|region|institution|item
// with optional from and to days (YYYY-MM-DD).
func (h *handlers) statistics(c echo.Context) error {
	req := recognition.StatsRequest{By: c.QueryParam("by")}
	if req.By == "" {
		req.By = recognition.ByMonth
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &req.From}, {"to", &req.To}} {
		if v := c.QueryParam(p.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return fmt.Errorf("%w: %s %q is not YYYY-MM-DD", recognition.ErrInvalid, p.name, v)
			}
			*p.dst = t.Add(-8 * time.Hour) // midnight in China time
		}
	}
	st, err := h.svc.Statistics(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return ok(c, st)
}

// link answers POST /persons/links: links a hospital's patient ID to the
// person a national identifier (hashed at once) or person key names.
func (h *handlers) link(c echo.Context) error {
	var req recognition.LinkRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	key, err := h.svc.Link(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return ok(c, map[string]any{"person_key": key, "issuer": req.Issuer, "patient_id": req.PatientID})
}
