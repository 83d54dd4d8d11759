package adminapi

import (
	"context"
	"net/http"
	"slices"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/httpapi/respond"
)

// Facts resolve what the regulators' report needs: the institution that
// holds a study and the regions an institution belongs to.
type Facts interface {
	HoldingOf(ctx context.Context, study string) string
	Regions(institution string) []string
}

// ReportRow counts accesses from one institution to another's studies.
type ReportRow struct {
	Actor   string `json:"actor_institution"`
	Holding string `json:"holding_institution"`
	// Scope is "cross-institution" (they share a region) or
	// "cross-region" (they share none).
	Scope    string `json:"scope"`
	Requests int    `json:"requests"`
	Allowed  int    `json:"allowed"`
	Refused  int    `json:"refused"`
	Persons  int    `json:"persons"`
}

// report answers GET /api/v1/admin/audit/report: cross-institution and
// cross-region access for regulators, from the audit trail.
func (a *API) report(c echo.Context) error {
	if a.Facts == nil {
		return respond.New(respond.ErrNotImplemented, "the report needs the institution registry")
	}
	f, err := filter(c)
	if err != nil {
		return err
	}
	f.Limit = 0
	if err := a.Audit.Flush(c.Request().Context()); err != nil {
		return err
	}
	ctx := c.Request().Context()
	type key struct{ actor, holding string }
	rows := map[key]*ReportRow{}
	persons := map[key]map[string]bool{}
	holding := map[string]string{}
	err = a.Audit.Query(f, func(e audit.Event) error {
		if e.Study == "" || e.Institution == "" {
			return nil
		}
		h, ok := holding[e.Study]
		if !ok {
			h = a.Facts.HoldingOf(ctx, e.Study)
			holding[e.Study] = h
		}
		if h == "" || h == e.Institution {
			return nil
		}
		k := key{e.Institution, h}
		r := rows[k]
		if r == nil {
			scope := "cross-region"
			for _, reg := range a.Facts.Regions(e.Institution) {
				if slices.Contains(a.Facts.Regions(h), reg) {
					scope = "cross-institution"
					break
				}
			}
			r = &ReportRow{Actor: e.Institution, Holding: h, Scope: scope}
			rows[k] = r
			persons[k] = map[string]bool{}
		}
		r.Requests++
		if e.Outcome >= 200 && e.Outcome < 300 {
			r.Allowed++
		} else {
			r.Refused++
		}
		if e.PersonKey != "" {
			persons[k][e.PersonKey] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := make([]ReportRow, 0, len(rows))
	for k, r := range rows {
		r.Persons = len(persons[k])
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope > out[j].Scope // cross-region first
		}
		return out[i].Requests > out[j].Requests
	})
	return c.JSON(http.StatusOK, map[string]any{"from": f.From, "to": f.To, "rows": out})
}
