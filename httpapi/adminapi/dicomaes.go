package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/httpapi/respond"
)

// AEDirectory is the known-AE registry the admin API manages
// (access.AEDirectory).
type AEDirectory interface {
	List() []access.AEEntry
	Put(ctx context.Context, ae access.AE) (created bool, err error)
	Delete(ctx context.Context, aet string) error
}

// aeBody is the JSON of PUT /admin/dicom-aes/{aet}: the title is the
// path's.
type aeBody struct {
	Host        string             `json:"host"`
	Port        int                `json:"port"`
	Institution string             `json:"institution"`
	Allow       []access.Operation `json:"allow"`
	TLS         bool               `json:"tls"`
}

func (a *API) listAEs(c echo.Context) error {
	if a.AEs == nil {
		return c.JSON(http.StatusOK, []access.AEEntry{})
	}
	return c.JSON(http.StatusOK, a.AEs.List())
}

// aeTitle is the path's AE title, unescaped (titles may hold spaces).
func aeTitle(c echo.Context) (string, error) {
	aet, err := url.PathUnescape(c.Param("aet"))
	if err != nil {
		return "", respond.BadRequest("AE title in the path is not a valid escape")
	}
	return aet, nil
}

func (a *API) putAE(c echo.Context) error {
	if a.AEs == nil {
		return echo.NewHTTPError(http.StatusConflict, "the DICOM service is off: start the gateway with --dicom-listen")
	}
	aet, err := aeTitle(c)
	if err != nil {
		return err
	}
	var b aeBody
	if err := c.Bind(&b); err != nil {
		return respond.BadRequest("body must be JSON: {host, port, institution, allow: [store, query, retrieve], tls}")
	}
	if b.Institution != "" && a.Registry != nil && !a.Registry.KnownInstitution(b.Institution) {
		return respond.BadRequest(fmt.Sprintf("institution: %q is not registered: register the institution first", b.Institution))
	}
	ae := access.AE{AET: aet, Host: b.Host, Port: b.Port, Institution: b.Institution, Allow: b.Allow, TLS: b.TLS}
	created, err := a.AEs.Put(c.Request().Context(), ae)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, access.AEEntry{AE: ae, Source: "api"})
}

func (a *API) deleteAE(c echo.Context) error {
	if a.AEs == nil {
		return echo.NewHTTPError(http.StatusConflict, "the DICOM service is off: start the gateway with --dicom-listen")
	}
	aet, err := aeTitle(c)
	if err != nil {
		return err
	}
	if err := a.AEs.Delete(c.Request().Context(), aet); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
