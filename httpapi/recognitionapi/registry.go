package recognitionapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/recognition"
)

func (h *handlers) listInstitutions(c echo.Context) error {
	insts, _ := h.svc.Institutions()
	return ok(c, map[string]any{"institutions": insts})
}

func (h *handlers) getInstitution(c echo.Context) error {
	in, err := h.svc.Institution(c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, in)
}

func (h *handlers) listRegions(c echo.Context) error {
	_, regs := h.svc.Institutions()
	return ok(c, map[string]any{"regions": regs})
}

func (h *handlers) listItems(c echo.Context) error {
	return ok(c, map[string]any{"items": h.svc.Items()})
}

func (h *handlers) getItem(c echo.Context) error {
	it, err := h.svc.Item(c.Param("code"))
	if err != nil {
		return err
	}
	return ok(c, it)
}

func (h *handlers) putInstitution(c echo.Context) error {
	var in recognition.Institution
	if err := readJSON(c, &in); err != nil {
		return err
	}
	if err := idMatches(c.Param("id"), in.ID); err != nil {
		return err
	}
	in.ID = c.Param("id")
	if err := h.svc.PutInstitution(c.Request().Context(), &in); err != nil {
		return err
	}
	return ok(c, &in)
}

func (h *handlers) deleteInstitution(c echo.Context) error {
	if err := h.svc.DeleteInstitution(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) putRegion(c echo.Context) error {
	var r recognition.Region
	if err := readJSON(c, &r); err != nil {
		return err
	}
	if err := idMatches(c.Param("id"), r.ID); err != nil {
		return err
	}
	r.ID = c.Param("id")
	if err := h.svc.PutRegion(c.Request().Context(), &r); err != nil {
		return err
	}
	return ok(c, &r)
}

func (h *handlers) deleteRegion(c echo.Context) error {
	if err := h.svc.DeleteRegion(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) putItem(c echo.Context) error {
	var it recognition.Item
	if err := readJSON(c, &it); err != nil {
		return err
	}
	if err := idMatches(c.Param("code"), it.Code); err != nil {
		return err
	}
	it.Code = c.Param("code")
	if err := h.svc.PutItem(c.Request().Context(), &it); err != nil {
		return err
	}
	return ok(c, &it)
}

func (h *handlers) deleteItem(c echo.Context) error {
	if err := h.svc.DeleteItem(c.Request().Context(), c.Param("code")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
