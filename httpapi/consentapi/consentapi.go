// Package consentapi serves patient consents under /api/v1/patient/consents:
// patients grant, list and revoke their own; admins act for a person
// (for example to record a consent signed on paper).
package consentapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/httpapi/respond"
)

// API serves the routes.
type API struct {
	Consents *consent.Service
	// Registry checks what a consent names, so that a typo is a 400
	// naming the field rather than a consent that covers nothing. Nil
	// checks nothing (tests of the handlers alone).
	Registry Registry
}

// Registry says whether the names a consent uses exist: institutions and
// regions in the registry, items in the catalogue, studies in the index
// linked to the person.
type Registry interface {
	KnownInstitution(id string) bool
	// KnownRegion is a registered region, or a province or city code one
	// registered institution is in.
	KnownRegion(id string) bool
	KnownItem(code string) bool
	// StudyOfPerson reports whether the study exists and its patient is
	// linked to person (the same answer for both, so that a patient
	// learns nothing of others' studies).
	StudyOfPerson(ctx context.Context, study, person string) bool
}

// check names the first field of c the registry does not know.
func (a *API) check(ctx context.Context, c consent.Consent) error {
	if a.Registry == nil {
		return nil
	}
	switch {
	case c.GranteeKind == consent.GranteeInstitution && !a.Registry.KnownInstitution(c.GranteeID):
		return respond.BadRequest(fmt.Sprintf("grantee_id: %q is not a registered institution (GET /api/v1/institutions lists them)", c.GranteeID))
	case c.GranteeKind == consent.GranteeRegion && !a.Registry.KnownRegion(c.GranteeID):
		return respond.BadRequest(fmt.Sprintf("grantee_id: %q is not a registered region nor the province or city of a registered institution (GET /api/v1/regions lists them)", c.GranteeID))
	}
	for _, it := range c.Items {
		if !a.Registry.KnownItem(it) {
			return respond.BadRequest(fmt.Sprintf("items: %q is not in the recognition catalogue (GET /api/v1/recognition/catalogue lists it)", it))
		}
	}
	for _, st := range c.Studies {
		if !a.Registry.StudyOfPerson(ctx, st, c.PersonKey) {
			return respond.BadRequest(fmt.Sprintf("studies: %q is not a study of this person (unknown, or its patient is not linked to them)", st))
		}
	}
	return nil
}

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
	if err := a.check(c.Request().Context(), cons); err != nil {
		return err
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
