package recognitionapi

import (
	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/recognition"
)

// HeaderAskingInstitution names the asking institution of a request whose
// caller carries none (see asking).
const HeaderAskingInstitution = "X-Asking-Institution"

// asking returns the id of the institution a request asks for.
//
// A principal's own institution always wins, so an authenticated clinician
// or PACS cannot ask as another hospital. Only a caller without one (auth
// off, or a role without an institution such as admin) may name it, in the
// X-Asking-Institution header (DICOMweb and JSON) or, for the JSON API, the
// given field of the query or body (fromBody). Whether such a caller reaches
// the route at all is the route policy's decision, not this function's.
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
