package recognitionapi

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/httpapi/guard"
)

// holdingRequest is the body of PUT /admin/studies/{study}/holding.
type holdingRequest struct {
	// Institution is the id of a registered institution.
	Institution string `json:"institution"`
}

// moveHolding answers PUT /admin/studies/{study}/holding (admin): gives a
// stored study another holding institution, which decides whose
// clinicians see it. Ingest never moves a study; this route is the only
// way, and its audit event says from whom to whom.
func (h *handlers) moveHolding(c echo.Context) error {
	var req holdingRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	study := c.Param("study")
	prev, e, err := h.svc.MoveHolding(c.Request().Context(), study, req.Institution)
	if err != nil {
		return err
	}
	from := prev
	if from == "" {
		from = "none"
	}
	guard.SetNote(c, guard.Note{Study: study, Detail: fmt.Sprintf("holding institution moved from %s to %s", from, e.Holding)})
	return ok(c, map[string]any{"study": study, "previous_holding_institution": prev, "eligibility": e})
}
