// Package viewer serves the gateway's own viewer: its static files (the
// viewer-static folder, embedded) at / with the headers a page showing
// patient data needs, and the IHE Invoke Image Display entry point that
// lets hospital systems open the viewer by URL.
package viewer

import (
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/imgcloud/gateway/dcm"
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
	// The files are compressed: on a slow mobile link the viewer's scripts
	// and styles are most of what stands between a tap and an image.
	gzip := middleware.GzipWithConfig(middleware.GzipConfig{Level: 6, MinLength: 1024})
	e.GET("/*", func(c echo.Context) error {
		securityHeaders(c.Response().Header())
		if c.Request().URL.Path == "/share.html" {
			preloadThumbnail(c)
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}, gzip)
}

// preloadThumbnail asks the browser to fetch the shared study's thumbnail
// with the page itself (a preload Link header): first.js shows it as soon
// as the image element is parsed, a round trip before the scripts could
// ask for it. The share session cookie authorises it like any request of
// the page.
func preloadThumbnail(c echo.Context) {
	study := c.QueryParam("studyUID")
	if !dcm.ValidUID(study) {
		return
	}
	c.Response().Header().Set("Link", "<dicomweb/studies/"+study+"/thumbnail?viewport=128,128>; rel=preload; as=image")
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
