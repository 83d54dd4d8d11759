package recognitionapi

import (
	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/recognition"
)

// HeaderAskingInstitution names the asking institution of a DICOMweb
// request until authentication exists (see asking).
const HeaderAskingInstitution = "X-Asking-Institution"

// asking returns the id of the institution a request asks for.
//
// TEMPORARY, until access control lands: the authenticated principal's
// institution when there is one; otherwise whatever the caller claims, in
// the X-Asking-Institution header (DICOMweb and JSON) or, for the JSON API,
// the given field of the query or body (fromBody). Access control replaces
// this one function so that a caller can no longer choose.
func asking(c echo.Context, fromBody string) string {
	if p, ok := auth.FromContext(c.Request().Context()); ok && p.Institution != "" {
		return p.Institution
	}
	if v := c.Request().Header.Get(HeaderAskingInstitution); v != "" {
		return v
	}
	if fromBody != "" {
		return fromBody
	}
	return c.QueryParam("institution")
}

// Asking is middleware that puts the asking institution in the request's
// context, where the recognition annotator reads it for DICOMweb answers.
func Asking(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := asking(c, ""); id != "" {
			r := c.Request()
			c.SetRequest(r.WithContext(recognition.WithAsking(r.Context(), id)))
		}
		return next(c)
	}
}
