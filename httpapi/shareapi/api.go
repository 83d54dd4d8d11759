// Package shareapi serves share links over HTTP: the JSON API that makes
// and revokes them (/api/v1/shares, with QR codes), the landing page a
// patient's phone opens (/s/{token}: the hospital and the exam, nothing
// that says who the patient is, no use consumed), the explicit open
// (POST /s/{token}/open) that sets a short session cookie and sends the
// browser to the viewer, the auth.SessionFunc that turns the cookie into a
// principal scoped to the one study, and the zip download of the study
// when the share allows it.
package shareapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/siteurl"
	"github.com/imgcloud/gateway/share"
)

// Owners says who holds a study, for the rule on who may share it.
type Owners interface {
	// StudyInstitution is the id of the institution holding a study ("" if
	// unknown).
	StudyInstitution(ctx context.Context, study string) string
	// StudyPerson is the person key of a study's patient ("" if unlinked).
	StudyPerson(ctx context.Context, study string) string
}

// Options configure the API.
type Options struct {
	Shares  *share.Service
	Archive *archive.Service
	Owners  Owners
	// PublicURL is the site root in share URLs (https://gw.example.cn);
	// empty: taken from the request (Host, and with TrustForwarded the
	// X-Forwarded-Proto/Host/Prefix headers).
	PublicURL      string
	TrustForwarded bool
	// SecureCookie forces the Secure attribute (behind a TLS proxy);
	// requests over TLS get it anyway.
	SecureCookie bool
	// FailuresPerMinute and FailureBurst limit invalid links and wrong
	// PINs from one address (default 1 a minute after a burst of 10),
	// counted in Failures, or in memory when it is nil.
	FailuresPerMinute float64
	FailureBurst      int
	Failures          Failures
	// PageOnOpen answers the POST that opens a link with the share page
	// itself (asked of the viewer mounted on the same server, see
	// viewer.OpenAnswer) instead of a 303 to it: a round trip less
	// before the first picture on a slow link.
	PageOnOpen bool
	Now        func() time.Time
	Logger     *slog.Logger
}

// The failures one address may make at share links: a burst, then a
// rate (Options.FailuresPerMinute, FailureBurst when not set).
const (
	DefaultFailuresPerMinute = 1
	DefaultFailureBurst      = 10
)

// API holds the handlers.
type API struct {
	opt   Options
	fails Failures
}

// New returns the API.
func New(opt Options) *API {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.FailuresPerMinute <= 0 {
		opt.FailuresPerMinute = DefaultFailuresPerMinute
	}
	if opt.FailureBurst <= 0 {
		opt.FailureBurst = DefaultFailureBurst
	}
	fails := opt.Failures
	if fails == nil {
		fails = newLocalFailures(opt.FailuresPerMinute, opt.FailureBurst, opt.Now)
	}
	return &API{opt: opt, fails: fails}
}

// Register mounts the JSON API on the /api/v1 group.
func (a *API) Register(g *echo.Group) {
	g.POST("/shares", a.create)
	g.GET("/shares", a.list)
	g.GET("/shares/session", a.sessionInfo)
	g.GET("/shares/session/study.zip", a.zip)
	g.GET("/shares/:id", a.get)
	g.DELETE("/shares/:id", a.revoke)
	g.GET("/shares/:id/qr.png", a.qrPNG)
	g.GET("/shares/:id/qr.svg", a.qrSVG)
	g.GET("/admin/share-keys", a.keys)
	g.POST("/admin/share-keys", a.rotate)
	g.DELETE("/admin/share-keys/:kid", a.retire)
}

// RegisterLinks mounts the share links themselves at /s/.
func (a *API) RegisterLinks(e *echo.Echo) {
	e.GET("/s/:token", a.landing)
	e.HEAD("/s/:token", a.landing) // link checkers and preview bots
	e.POST("/s/:token/open", a.open)
	// Anything else under /s/ is an invalid link, answered with the same
	// page (and never logged with its path).
	e.Any("/s/*", a.invalid)
}

// siteRoot returns the root URL share links are made under.
func (a *API) siteRoot(c echo.Context) string {
	if a.opt.PublicURL != "" {
		return strings.TrimRight(a.opt.PublicURL, "/")
	}
	return siteurl.Root(c.Request(), a.opt.TrustForwarded)
}

// secure reports whether the session cookie must be Secure.
func (a *API) secure(r *http.Request) bool {
	return a.opt.SecureCookie || r.TLS != nil || strings.HasPrefix(a.opt.PublicURL, "https://") ||
		(a.opt.TrustForwarded && r.Header.Get("X-Forwarded-Proto") == "https")
}
