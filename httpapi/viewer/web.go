// Package viewer serves the gateway's own viewer: its static files (the
// viewer-static folder, embedded) at / with the headers a page showing
// patient data needs, and the IHE Invoke Image Display entry point that
// lets hospital systems open the viewer by URL.
package viewer

import (
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Options configure Register.
type Options struct {
	// Files are the viewer's files, index.html at the root.
	Files fs.FS
}

// Register mounts the viewer at / and IHE IID at /IHEInvokeImageDisplay.
// Routes registered on e before or after keep precedence over the
// catch-all static route.
func Register(e *echo.Echo, opt Options) {
	e.GET("/IHEInvokeImageDisplay", invokeImageDisplay)
	files := http.FileServerFS(opt.Files)
	e.GET("/favicon.ico", func(c echo.Context) error {
		// Browsers ask for /favicon.ico on their own; answer with the SVG.
		b, err := fs.ReadFile(opt.Files, "favicon.svg")
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "no favicon")
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return c.Blob(http.StatusOK, "image/svg+xml", b)
	})
	e.GET("/*", func(c echo.Context) error {
		securityHeaders(c.Response().Header())
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// securityHeaders keeps the viewer's pages from leaking URLs (which may
// hold share tokens or UIDs) through Referer, from being framed by other
// sites and from running scripts other than its own.
func securityHeaders(h http.Header) {
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "+
		"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'")
	h.Set("Cache-Control", "no-cache")
}
