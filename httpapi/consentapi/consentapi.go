// Package consentapi serves patient consents under /api/v1/patient/consents:
// patients grant, list and revoke their own; admins act for a person
// (for example to record a consent signed on paper).
package consentapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/httpapi/respond"
)

// API serves the routes.
type API struct{ Consents *consent.Service }

// Register mounts the routes on the /api/v1 group.
func (a *API) Register(g *echo.Group) {
	g.GET("/patient/consents", a.list)
	g.POST("/patient/consents", a.grant)
	g.DELETE("/patient/consents/:id", a.revoke)
}

// person is the person a request acts for: the patient's own key, or the
// one an admin names.
func person(c echo.Context, named string) (string, error) {
	p, _ := auth.FromContext(c.Request().Context())
	switch {
	case p.Role == auth.RolePatient && p.PersonKey != "":
		if named != "" && named != p.PersonKey {
			return "", respond.New(auth.ErrForbidden, "a patient acts only for themself")
		}
		return p.PersonKey, nil
	case p.Role == auth.RoleAdmin || p.Role == "":
		if named == "" {
			return "", respond.BadRequest("person_key is required")
		}
		return named, nil
	}
	return "", respond.New(auth.ErrForbidden, "no person is attached to these credentials")
}

func (a *API) list(c echo.Context) error {
	who, err := person(c, c.QueryParam("person"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.Consents.List(who))
}

type grantReq struct {
	PersonKey   string   `json:"person_key"`
	GranteeKind string   `json:"grantee_kind"`
	GranteeID   string   `json:"grantee_id"`
	From        string   `json:"from"`  // RFC 3339; default now
	Until       string   `json:"until"` // RFC 3339; default from + 30 days
	Days        int      `json:"days"`  // alternative to until
	Items       []string `json:"items"`
	Studies     []string `json:"studies"`
}

func (a *API) grant(c echo.Context) error {
	var req grantReq
	if err := c.Bind(&req); err != nil {
		return respond.BadRequest("body must be JSON: {grantee_kind, grantee_id, days | until, items, studies}")
	}
	who, err := person(c, req.PersonKey)
	if err != nil {
		return err
	}
	cons := consent.Consent{PersonKey: who, GranteeKind: req.GranteeKind, GranteeID: req.GranteeID, Items: req.Items, Studies: req.Studies}
	for name, pair := range map[string]struct {
		v   string
		dst *time.Time
	}{"from": {req.From, &cons.From}, "until": {req.Until, &cons.Until}} {
		if pair.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, pair.v)
		if err != nil {
			return respond.BadRequest(name + " must be an RFC 3339 time such as 2026-12-01T00:00:00+08:00")
		}
		*pair.dst = t
	}
	if req.Days != 0 {
		if req.Days < 0 || req.Until != "" {
			return respond.BadRequest("days must be positive and not combined with until")
		}
		if cons.From.IsZero() {
			cons.From = time.Now()
		}
		cons.Until = cons.From.Add(time.Duration(req.Days) * 24 * time.Hour)
	}
	p, _ := auth.FromContext(c.Request().Context())
	cons.CreatedBy = string(p.Role) + ":" + p.User
	out, err := a.Consents.Grant(c.Request().Context(), cons)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (a *API) revoke(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	owner := p.PersonKey
	if p.Role == auth.RoleAdmin || p.Role == "" {
		owner = ""
	} else if owner == "" {
		return respond.New(auth.ErrForbidden, "no person is attached to these credentials")
	}
	out, err := a.Consents.Revoke(c.Request().Context(), c.Param("id"), owner)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
