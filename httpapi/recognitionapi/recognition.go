package recognitionapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/internal/ratelimit"
	"github.com/imgcloud/gateway/recognition"
)

// studyTag answers GET /recognition/studies/{study}: the tag for the
// asking institution, the stored outcome of the ingest check, the names of
// the holding and asking institutions and the refusal reasons a decision
// may give (what the viewer's decision panel shows), texts in the
// language Accept-Language asks for.
func (h *handlers) studyTag(c echo.Context) error {
	ctx := c.Request().Context()
	l := lang(c)
	tag, err := h.svc.Tag(ctx, c.Param("study"), asking(c, ""))
	if err != nil {
		return err
	}
	out := map[string]any{"tag": tag.In(l), "refusal_reasons": recognition.RefusalReasons(l)}
	if e, err := h.svc.Eligibility(ctx, tag.Study); err == nil {
		out["eligibility"] = e.In(l)
	}
	for key, id := range map[string]string{"holding_institution_name": tag.Holding, "asking_institution_name": tag.Asking} {
		if in, err := h.svc.Institution(id); err == nil && id != "" {
			out[key] = in.Name
		}
	}
	return ok(c, out)
}

// orderCheck answers POST /recognition/order-check. The patient is named
// in the body, never in the URL, so identifiers stay out of access logs.
// Each clinician has a limit (Options.OrderChecks), and every check is
// audited with its item and what it could say (never the patient).
func (h *handlers) orderCheck(c echo.Context) error {
	var req recognition.OrderRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	req.Institution = asking(c, req.Institution)
	if !h.orders.Allow(callerKey(c), h.now()) {
		guard.SetNote(c, guard.Note{Detail: "order-check refused: rate limit"})
		return &ratelimit.Error{RetryAfter: h.retry, Msg: fmt.Sprintf(
			"too many order checks from these credentials; wait %.0f s and try again", h.retry.Seconds())}
	}
	res, err := h.svc.CheckOrder(c.Request().Context(), req)
	if err != nil {
		return err
	}
	guard.SetNote(c, guard.Note{Detail: fmt.Sprintf("order-check item=%s listed=%d needs_consent=%t", res.Item.Code, len(res.Results), res.NeedsConsent)})
	return ok(c, res.In(lang(c)))
}

// callerKey names the caller for per-clinician limits: the API token, or
// the user at their institution, or (no principal) the client address.
func callerKey(c echo.Context) string {
	p, _ := auth.FromContext(c.Request().Context())
	switch {
	case p.TokenID != "":
		return "tok:" + p.TokenID
	case p.User != "":
		return "user:" + string(p.Role) + ":" + p.Institution + ":" + p.User
	}
	return "ip:" + c.RealIP()
}

// decide answers POST /recognition/decisions with the new record (201),
// signed by the request's principal (the service reads it from the
// context).
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
	return c.JSON(http.StatusCreated, d.In(lang(c)))
}

// listDecisions answers GET
// /recognition/decisions?study=&institution=&order=&current=true: the
// history, superseded decisions naming their successor (current=true
// leaves them out).
func (h *handlers) listDecisions(c echo.Context) error {
	l := lang(c)
	ds, err := h.svc.Decisions(c.Request().Context(), recognition.DecisionFilter{
		Study: c.QueryParam("study"), Institution: c.QueryParam("institution"),
		Order: c.QueryParam("order"), Current: c.QueryParam("current") == "true",
	})
	if err != nil {
		return err
	}
	out := make([]recognition.Decision, len(ds))
	for i, d := range ds {
		out[i] = d.In(l)
	}
	return ok(c, map[string]any{"decisions": out})
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
// person a national identifier (hashed at once) or, for administrators, a
// person key names (recognition.Service.Link says who may link what).
func (h *handlers) link(c echo.Context) error {
	return h.changeLink(c, "link", h.svc.Link)
}

// unlink answers POST /persons/links/unlink: undoes a link (a POST with a
// body, not a DELETE, so that patient IDs stay out of URLs and logs).
func (h *handlers) unlink(c echo.Context) error {
	return h.changeLink(c, "unlink", h.svc.Unlink)
}

// changeLink runs a link change as the request's principal and audits it
// by issuer and outcome: never the patient ID, national ID or person key.
func (h *handlers) changeLink(c echo.Context, verb string, change func(context.Context, auth.Principal, recognition.LinkRequest) (*recognition.LinkResult, error)) error {
	var req recognition.LinkRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	p, _ := auth.FromContext(c.Request().Context())
	res, err := change(c.Request().Context(), p, req)
	if err != nil {
		guard.SetNote(c, guard.Note{Detail: fmt.Sprintf("person link change refused op=%s issuer=%s", verb, auditValue(req.Issuer))})
		return err
	}
	guard.SetNote(c, guard.Note{Detail: fmt.Sprintf("person link %s issuer=%s", res.Outcome, auditValue(res.Issuer))})
	return ok(c, res)
}

// auditValue bounds a caller's value for an audit detail.
func auditValue(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}
