// Package server assembles the gateway's HTTP server: middleware (request
// IDs, structured request logs, metrics, CORS, recovery), health endpoints,
// Prometheus metrics, the DICOMweb routes and the viewer.
package server

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/httpapi/viewer"
	"github.com/imgcloud/gateway/internal/idleread"
	"github.com/imgcloud/gateway/internal/metrics"
)

// Options configure New.
type Options struct {
	DICOMweb    dicomweb.Options
	CORSOrigins []string
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
	// Viewer is served at / when set.
	Viewer fs.FS
	// Access is the authentication, authorisation and audit middleware
	// (httpapi/guard); nil serves everything to everyone (tests).
	Access echo.MiddlewareFunc
	// API mounts JSON API routes on the /api/v1 group, one function per
	// feature package.
	API []func(g *echo.Group)
	// Middleware runs after Access on every route (e.g. the recognition
	// API's asking-institution middleware, recognitionapi.Asking).
	Middleware []echo.MiddlewareFunc
	// Routes mount routes outside /api/v1 and /dicomweb (e.g. share links
	// at /s/, httpapi/shareapi).
	Routes []func(e *echo.Echo)
	// ReadyNotes are lines /readyz adds to its answer when ready (what
	// this build cannot do, e.g. the compressed syntaxes it cannot decode).
	ReadyNotes []string
	// ReadyMore, when set, adds lines computed at each /readyz (settings
	// that change at run time, e.g. a compression no encoder can do).
	ReadyMore func() []string
	// BodyIdleTimeout cuts a request body when less than
	// idleread.MinProgress bytes arrive in that long (408); zero: off.
	BodyIdleTimeout time.Duration
}

// APIRoot is where the JSON APIs of Options.API are mounted.
const APIRoot = "/api/v1"

// Policy is the route policy of a server New builds: its own routes
// (health probes for anyone, metrics for admins), DICOMweb's and the
// viewer's, and the rules given, full patterns (for Options.API, put
// APIRoot before the adapters' rules with access.Prefix).
func Policy(rules ...access.Rules) (*access.Policy, error) {
	own := access.Rules{
		"GET /healthz": {Public: true},
		"GET /readyz":  {Public: true},
		"GET /metrics": {Roles: []auth.Role{auth.RoleAdmin}},
	}
	return access.NewPolicy(append([]access.Rules{own, dicomweb.AccessRules("/dicomweb"), viewer.AccessRules}, rules...)...)
}

// Routes lists the routes of e as "METHOD pattern", without echo's own
// not-found routes: what access.Policy.Cover checks.
func Routes(e *echo.Echo) []string {
	var out []string
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Method, "echo_") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// maxLoggedPath bounds the request path written in each request log line.
const maxLoggedPath = 512

// New returns the gateway's echo server.
func New(svc *archive.Service, opt Options) *echo.Echo {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = respond.Handler(log)
	// The client address feeds rate limits and the audit trail: take it
	// from X-Forwarded-For only behind a trusted proxy, or anyone could
	// pick their own address.
	e.IPExtractor = echo.ExtractIPDirect()
	if opt.DICOMweb.TrustForwarded {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}

	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(idleread.Middleware(opt.BodyIdleTimeout))
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		LogRemoteIP: true, LogResponseSize: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The path holds UIDs, never names; query strings are left out
			// because they may hold patient names or IDs.
			// Share links carry their token in the path: log the route.
			path := v.URIPath
			if strings.HasPrefix(path, "/s/") {
				path = c.Path()
			}
			// A client picks the path's length: a 200 KB path per
			// request must not become 200 KB of log per request.
			if len(path) > maxLoggedPath {
				path = strings.ToValidUTF8(path[:maxLoggedPath], "") + "…(" + strconv.Itoa(len(path)) + " bytes)"
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request_id", v.RequestID), slog.String("method", v.Method),
				slog.String("path", path), slog.Int("status", v.Status),
				slog.Int64("bytes", v.ResponseSize), slog.Duration("latency", v.Latency),
				slog.String("remote", v.RemoteIP))
			return nil
		},
	}))
	if opt.Metrics != nil {
		e.Use(opt.Metrics.Middleware)
	}
	origins := opt.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  origins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete, http.MethodOptions},
		AllowHeaders:  []string{"Authorization", "Accept", "Content-Type", "If-None-Match", "X-Request-Id", "X-Asking-Institution", "Prefer"},
		ExposeHeaders: []string{"Warning", "ETag", "Content-Location", "X-Request-Id", "Content-Length", "X-Total-Count", "Preference-Applied"},
		MaxAge:        600,
	}))
	// After CORS, so that refusals still carry CORS headers a browser can read.
	if opt.Access != nil {
		e.Use(opt.Access)
	}
	e.Use(opt.Middleware...)

	ready := "ready\n"
	for _, n := range opt.ReadyNotes {
		ready += n + "\n"
	}
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		if err := svc.Ready(ctx); err != nil {
			return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
		}
		if opt.ReadyMore != nil {
			more := opt.ReadyMore()
			if len(more) > 0 {
				return c.String(http.StatusOK, ready+strings.Join(more, "\n")+"\n")
			}
		}
		return c.String(http.StatusOK, ready)
	})
	if opt.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(opt.Metrics.Handler()))
	}

	api := e.Group(APIRoot)
	// An unknown API path is the group's 404, not the viewer's catch-all:
	// the access middleware then asks for credentials first (401).
	api.RouteNotFound("/*", echo.NotFoundHandler)
	for _, mount := range opt.API {
		mount(api)
	}

	for _, mount := range opt.Routes {
		mount(e)
	}

	opt.DICOMweb.Logger = log.With("component", "dicomweb")
	opt.DICOMweb.Site = e.Group("")
	dicomweb.Register(e.Group("/dicomweb"), svc, opt.DICOMweb)

	if opt.Viewer != nil {
		viewer.Register(e, viewer.Options{Files: opt.Viewer})
	}
	return e
}
