// Package adminapi serves the access-control JSON API: token management
// and the audit trail for admins (/api/v1/admin), "who am I" for everyone,
// and the person-scoped access log patients see (/api/v1/patient).
package adminapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/respond"
)

// API holds what the handlers need.
type API struct {
	Tokens *auth.Tokens
	Audit  *audit.Log
	// Facts feed the regulators' report (optional).
	Facts Facts
	// Registry refuses tokens for an institution that is not registered
	// (a typo would give a PACS or a clinician a token that sees
	// nothing). Nil checks nothing (tests of the handlers alone).
	Registry Registry
	// AEs are the known DICOM AEs (nil: the DICOM service is off).
	AEs AEDirectory
}

// Registry says whether an institution is registered.
type Registry interface {
	KnownInstitution(id string) bool
}

// Register mounts the routes on the /api/v1 group. The access middleware
// has already checked roles (AccessRules).
func (a *API) Register(g *echo.Group) {
	g.GET("/me", a.me)
	g.POST("/admin/tokens", a.createToken)
	g.GET("/admin/tokens", a.listTokens)
	g.DELETE("/admin/tokens/:id", a.revokeToken)
	g.GET("/admin/audit", a.queryAudit)
	g.GET("/admin/audit/verify", a.verifyAudit)
	g.POST("/admin/audit/export", a.exportAudit)
	g.GET("/admin/audit/report", a.report)
	g.GET("/patient/access-log", a.patientAccessLog)
	g.GET("/admin/dicom-aes", a.listAEs) // dicomaes.go
	g.PUT("/admin/dicom-aes/:aet", a.putAE)
	g.DELETE("/admin/dicom-aes/:aet", a.deleteAE)
}

func (a *API) me(c echo.Context) error {
	p, ok := auth.FromContext(c.Request().Context())
	if !ok {
		return respond.New(auth.ErrUnauthenticated, "not authenticated")
	}
	return c.JSON(http.StatusOK, p)
}

type createReq struct {
	Role        auth.Role `json:"role"`
	Institution string    `json:"institution"`
	User        string    `json:"user"`
	PersonKey   string    `json:"person_key"` // for patient tokens
	TTL         string    `json:"ttl"`        // Go duration, e.g. "720h"; empty: no expiry
}

func (a *API) createToken(c echo.Context) error {
	var req createReq
	if err := c.Bind(&req); err != nil {
		return respond.BadRequest("body must be JSON: {role, institution, user, ttl}")
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return respond.BadRequest("ttl must be a positive duration such as 720h")
		}
		ttl = d
	}
	if req.Institution != "" && a.Registry != nil && !a.Registry.KnownInstitution(req.Institution) {
		return respond.BadRequest(fmt.Sprintf("institution: %q is not registered: register the institution first (gateway recognition load --institutions FILE, or PUT /api/v1/admin/institutions/%s)", req.Institution, req.Institution))
	}
	clear, tok, err := a.Tokens.Create(c.Request().Context(), auth.Principal{Role: req.Role, Institution: req.Institution, User: req.User, PersonKey: req.PersonKey}, ttl)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, map[string]any{"token": clear, "id": tok.ID, "role": tok.Role,
		"institution": tok.Institution, "user": tok.User, "expires": tok.Expires,
		"note": "the token is shown once; only its hash is stored"})
}

func (a *API) listTokens(c echo.Context) error {
	toks, err := a.Tokens.List(c.Request().Context())
	if err != nil {
		return err
	}
	for i := range toks {
		toks[i].Hash = ""
	}
	return c.JSON(http.StatusOK, toks)
}

func (a *API) revokeToken(c echo.Context) error {
	if err := a.Tokens.Revoke(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// filter reads the query parameters of audit queries.
func filter(c echo.Context) (audit.Filter, error) {
	f := audit.Filter{
		PersonKey: c.QueryParam("person"), Study: c.QueryParam("study"),
		Institution: c.QueryParam("institution"), Actor: c.QueryParam("actor"),
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := c.QueryParam(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, respond.BadRequest(name + " must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
			}
			*dst = t
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, respond.BadRequest("limit must be a non-negative integer")
		}
		f.Limit = n
	}
	return f, nil
}

func (a *API) queryAudit(c echo.Context) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	if err := a.Audit.Flush(c.Request().Context()); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Type", "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	return a.Audit.WriteJSONLines(c.Response(), f)
}

func (a *API) verifyAudit(c echo.Context) error {
	if err := a.Audit.Flush(c.Request().Context()); err != nil {
		return err
	}
	n, err := a.Audit.Verify(c.Request().Context())
	if err != nil {
		return c.JSON(http.StatusConflict, map[string]any{"ok": false, "events": n, "error": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "events": n})
}

func (a *API) exportAudit(c echo.Context) error {
	if err := a.Audit.Flush(c.Request().Context()); err != nil {
		return err
	}
	n, err := a.Audit.Export(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"exported": n})
}

// patientAccessLog shows a patient who looked at their images.
func (a *API) patientAccessLog(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	person := p.PersonKey
	if p.Role == auth.RoleAdmin {
		person = c.QueryParam("person")
	}
	if person == "" {
		return respond.New(auth.ErrForbidden, "no person is attached to these credentials")
	}
	if err := a.Audit.Flush(c.Request().Context()); err != nil {
		return err
	}
	type view struct {
		Time        time.Time `json:"time"`
		Role        string    `json:"role"`
		Institution string    `json:"institution,omitempty"`
		Actor       string    `json:"actor,omitempty"`
		Study       string    `json:"study,omitempty"`
		Action      string    `json:"action"`
		Outcome     int       `json:"outcome"`
	}
	out := []view{}
	err := a.Audit.Query(audit.Filter{PersonKey: person}, func(e audit.Event) error {
		out = append(out, view{e.Time, e.Role, e.Institution, e.Actor, e.Study, e.Action, e.Outcome})
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
