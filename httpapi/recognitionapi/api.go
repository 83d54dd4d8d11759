// Package recognitionapi is the gateway's JSON API under /api/v1 for mutual
// recognition: institutions, catalogue, recognition tags, order-time
// checks, physician decisions, person links and statistics. Handlers parse,
// call the recognition service and write; errors go to the server's error
// handler (httpapi/respond maps them to statuses).
package recognitionapi

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/internal/ratelimit"
	"github.com/imgcloud/gateway/recognition"
)

// maxBody bounds a JSON request body.
const maxBody = 1 << 20

// Options configure Register.
type Options struct {
	// OrderChecks limits order checks per clinician (DefaultOrderChecks
	// when zero).
	OrderChecks Rate
	// Now is the clock of the limits (default time.Now).
	Now func() time.Time
}

// Rate is a token bucket: PerMinute requests on average, Burst at once.
type Rate struct {
	PerMinute float64
	Burst     int
}

// DefaultOrderChecks is a clinician's order-check limit: plenty for
// ordering exams, too few to walk through a hospital's patient IDs.
var DefaultOrderChecks = Rate{PerMinute: 30, Burst: 20}

type handlers struct {
	svc    *recognition.Service
	orders *ratelimit.Keyed
	// retry is the Retry-After of a refused order check: the time one
	// check takes to come back (seconds).
	retry time.Duration
	now   func() time.Time
}

// Register mounts the JSON API on g (/api/v1).
func Register(g *echo.Group, svc *recognition.Service, opt Options) {
	if opt.OrderChecks.PerMinute <= 0 {
		opt.OrderChecks = DefaultOrderChecks
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &handlers{svc: svc, orders: ratelimit.New(opt.OrderChecks.PerMinute/60, max(opt.OrderChecks.Burst, 1), time.Hour), now: opt.Now,
		retry: time.Duration(math.Ceil(60/opt.OrderChecks.PerMinute)) * time.Second}
	g.GET("/institutions", h.listInstitutions)
	g.GET("/institutions/:id", h.getInstitution)
	g.GET("/regions", h.listRegions)
	g.GET("/recognition/catalogue", h.listItems)
	g.GET("/recognition/catalogue/:code", h.getItem)
	g.GET("/recognition/studies/:study", h.studyTag)
	g.POST("/recognition/order-check", h.orderCheck)
	g.POST("/recognition/decisions", h.decide)
	g.GET("/recognition/decisions", h.listDecisions)
	g.GET("/recognition/statistics", h.statistics)
	g.POST("/persons/links", h.link)
	g.POST("/persons/links/unlink", h.unlink)

	admin := g.Group("/admin")
	admin.PUT("/institutions/:id", h.putInstitution)
	admin.DELETE("/institutions/:id", h.deleteInstitution)
	admin.PUT("/regions/:id", h.putRegion)
	admin.DELETE("/regions/:id", h.deleteRegion)
	admin.PUT("/catalogue/:code", h.putItem)
	admin.DELETE("/catalogue/:code", h.deleteItem)
	admin.POST("/recognition/import", h.importFiles)
	admin.GET("/recognition/export", h.exportFiles)
	admin.PUT("/studies/:study/holding", h.moveHolding)
}

// readJSON decodes a JSON body strictly (unknown fields are errors).
func readJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: JSON body: %v", recognition.ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: JSON body: more than one value", recognition.ErrInvalid)
	}
	return nil
}

// idMatches checks that a body's id agrees with the path's.
func idMatches(path, body string) error {
	if body != "" && body != path {
		return fmt.Errorf("%w: the body names %q, the path %q", recognition.ErrInvalid, body, path)
	}
	return nil
}

// invalid returns an ErrInvalid with a message.
func invalid(msg string) error { return fmt.Errorf("%w: %s", recognition.ErrInvalid, msg) }

// ok writes v as JSON with status 200.
func ok(c echo.Context, v any) error { return c.JSON(http.StatusOK, v) }
