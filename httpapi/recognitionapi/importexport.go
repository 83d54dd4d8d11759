package recognitionapi

import (
	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/recognition"
)

// ImportRequest is the body of POST /admin/recognition/import and the
// answer of GET /admin/recognition/export: a registry and a catalogue
// (either may be absent on import).
type ImportRequest struct {
	Registry  *recognition.RegistryFile  `json:"registry,omitempty"`
	Catalogue *recognition.CatalogueFile `json:"catalogue,omitempty"`
}

// importFiles loads a registry and/or catalogue all or nothing: every
// entry is validated before any is written.
func (h *handlers) importFiles(c echo.Context) error {
	var req ImportRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Registry == nil && req.Catalogue == nil {
		return invalid("registry or catalogue is required")
	}
	if err := h.svc.Import(c.Request().Context(), req.Registry, req.Catalogue); err != nil {
		return err
	}
	insts, regions, items := h.svc.Counts()
	return ok(c, map[string]int{"institutions": insts, "regions": regions, "catalogue_items": items})
}

// exportFiles answers the registry and the catalogue.
func (h *handlers) exportFiles(c echo.Context) error {
	reg, cat := h.svc.Export()
	return ok(c, ImportRequest{Registry: reg, Catalogue: cat})
}
