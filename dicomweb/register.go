// Package dicomweb is the gateway's PS3.18 HTTP surface: STOW-RS, QIDO-RS,
// WADO-RS (instances, metadata, frames, bulk data) and WADO-URI. Handlers
// parse the request, call the archive and write the answer; errors go to
// httpapi/respond, which maps them to statuses in one place.
package dicomweb

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/siteurl"
)

// Options configure the DICOMweb routes.
type Options struct {
	// PublicURL, when set, is the service root clients see (for example
	// https://pacs.example.cn/dicomweb); it wins over request headers.
	PublicURL string
	// TrustForwarded makes X-Forwarded-Proto/Host/Prefix set the service
	// root, for deployments behind a reverse proxy.
	TrustForwarded bool
	// MaxRequestBytes bounds a STOW request body (413 beyond).
	MaxRequestBytes int64
	// MaxStowParts bounds the parts of one STOW request (default
	// DefaultMaxStowParts); parts beyond it are not read (413), the
	// instances before it stay stored and are listed.
	MaxStowParts int
	// MaxAnswerBytes bounds one multi-frame answer: frames and rendered
	// animations (default DefaultMaxAnswerBytes). A request that would
	// exceed it is refused before anything is sent.
	MaxAnswerBytes int64
	// PresignRedirect, when positive, answers WADO-URI downloads with a
	// redirect to a presigned object-store URL valid that long (for
	// deployments where clients reach S3 directly).
	PresignRedirect time.Duration
	// Root is the path g is mounted at (default "/dicomweb").
	Root string
	// Site, when set, is the site root: WADO-URI is mounted at /wado on it
	// too, where legacy clients (EMR report links) are configured.
	Site   *echo.Group
	Logger *slog.Logger
	// Mount adds routes of other packages under the service root (the
	// federation proxy, httpapi/fedapi); base gives the service root as
	// the client sees it.
	Mount []func(g *echo.Group, base func(echo.Context) string)
	// Searcher, when set, wraps the archive into the searcher QIDO-RS
	// calls (httpapi/fedapi: the archive and its peers), and GET /studies
	// reads a federation scope (FederationParam, HeaderFederationScope)
	// for it; without it that parameter is an unknown attribute.
	Searcher func(local archive.Searcher) archive.Searcher
}

// Defaults of Options.
const (
	// DefaultMaxStowParts is the most parts one STOW request may hold.
	DefaultMaxStowParts = 10000
	// DefaultMaxAnswerBytes is the largest multi-frame answer (2 GiB).
	DefaultMaxAnswerBytes = 2 << 30
)

type handlers struct {
	svc *archive.Service
	// search answers QIDO-RS: opt.Searcher, or svc.
	search archive.Searcher
	opt    Options
	log    *slog.Logger
	// writers are the buffered writers of QIDO answers, reused.
	writers sync.Pool
}

// Register mounts the DICOMweb routes on g (the service root, /dicomweb).
func Register(g *echo.Group, svc *archive.Service, opt Options) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Root == "" {
		opt.Root = "/dicomweb"
	}
	if opt.MaxRequestBytes <= 0 {
		opt.MaxRequestBytes = 64 << 30
	}
	if opt.MaxStowParts <= 0 {
		opt.MaxStowParts = DefaultMaxStowParts
	}
	if opt.MaxAnswerBytes <= 0 {
		opt.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	h := &handlers{svc: svc, search: svc, opt: opt, log: opt.Logger}
	if opt.Searcher != nil {
		h.search = opt.Searcher(svc)
	}
	g.Use(corpHeader)

	g.POST("/studies", h.stow)
	g.POST("/studies/:study", h.stow)

	g.GET("/studies", h.qido(archive.LevelStudy))
	g.GET("/series", h.qido(archive.LevelSeries))
	g.GET("/instances", h.qido(archive.LevelInstance))
	g.GET("/studies/:study/series", h.qido(archive.LevelSeries))
	g.GET("/studies/:study/instances", h.qido(archive.LevelInstance))
	g.GET("/studies/:study/series/:series/instances", h.qido(archive.LevelInstance))

	g.GET("/studies/:study", h.retrieve)
	g.GET("/studies/:study/series/:series", h.retrieve)
	g.GET("/studies/:study/series/:series/instances/:sop", h.retrieve)

	g.GET("/studies/:study/metadata", h.metadata)
	g.GET("/studies/:study/series/:series/metadata", h.metadata)
	g.GET("/studies/:study/series/:series/instances/:sop/metadata", h.metadata)

	g.GET("/studies/:study/series/:series/instances/:sop/frames/:frames", h.frames)
	g.GET("/studies/:study/series/:series/instances/:sop/bulkdata/*", h.bulk)

	r := registerRendered(g, h) // rendered.go: /rendered and /thumbnail at every level
	// WADO-URI renders through the same renderer (wadouri.go).
	g.GET("/wado", r.wadoURI)
	if opt.Site != nil {
		opt.Site.GET("/wado", r.wadoURI, corpHeader)
	}
	for _, mount := range opt.Mount {
		mount(g, h.base)
	}
}

// corpHeader lets cross-origin-isolated viewers (COEP require-corp) load
// images and metadata from the gateway.
func corpHeader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		return next(c)
	}
}

// base returns the service root as the client sees it, for RetrieveURL and
// BulkDataURI values.
func (h *handlers) base(c echo.Context) string {
	if h.opt.PublicURL != "" {
		return strings.TrimRight(h.opt.PublicURL, "/")
	}
	return siteurl.Root(c.Request(), h.opt.TrustForwarded) + h.opt.Root
}

// noStore marks answers that hold patient data as not cacheable by shared
// caches.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "private, no-cache")
}
