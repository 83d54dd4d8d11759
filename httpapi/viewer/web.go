// Package viewer serves the gateway's own viewer: its static files (the
// viewer-static folder, embedded) at / with the headers a page showing
// patient data needs, and the IHE Invoke Image Display entry point that
// lets hospital systems open the viewer by URL.
package viewer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

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
			base, _ := c.Request().Context().Value(openAnswerKey{}).(string)
			page, ok := inlineThumbnail(c, opt.Files)
			if !ok && base != "" {
				// The answer of an open has no address to fetch a
				// preloaded thumbnail from: the page as it is.
				var err error
				page, err = fs.ReadFile(opt.Files, "share.html")
				ok = err == nil
			}
			if ok {
				return servePage(c, page, opt.Files, base)
			}
			preloadThumbnail(c)
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}, gzip)
}

// maxInlineThumbnail bounds the picture inlined into a share page.
const maxInlineThumbnail = 16 << 10

// inlineThumbnail returns share.html with the shared study's thumbnail in
// it, as a data: URI of the image element: on a slow mobile link the page
// then holds its first picture, a round trip (400 ms on slow 3G) sooner
// than a preload could bring it, with no script to wait for. The
// thumbnail is asked for through the whole server (e.ServeHTTP) with the
// page request's cookies, so the share session authorises it, the
// visibility rule applies and it is audited like any read; on any other
// answer than a small picture the page is served as it is (with the
// preload Link).
func inlineThumbnail(c echo.Context, files fs.FS) ([]byte, bool) {
	study := c.QueryParam("studyUID")
	if !dcm.ValidUID(study) {
		return nil, false
	}
	r := c.Request()
	sub, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/dicomweb/studies/"+study+"/thumbnail?viewport=128,128", nil)
	if err != nil {
		return nil, false
	}
	sub.Header = r.Header.Clone()
	sub.Header.Set("Accept", "image/jpeg")
	for _, h := range []string{"Accept-Encoding", "Range", "If-None-Match", "If-Modified-Since", "If-Range"} {
		sub.Header.Del(h) // the page's conditions are not the picture's
	}
	sub.RemoteAddr, sub.Host = r.RemoteAddr, r.Host
	w := &captured{header: http.Header{}}
	c.Echo().ServeHTTP(w, sub)
	if w.status != http.StatusOK || w.header.Get("Content-Type") != "image/jpeg" || w.body.Len() > maxInlineThumbnail || w.overflow {
		return nil, false
	}
	page, err := fs.ReadFile(files, "share.html")
	if err != nil {
		return nil, false
	}
	const tag = `<img id="image" `
	if !bytes.Contains(page, []byte(tag)) {
		return nil, false
	}
	src := tag + `src="data:image/jpeg;base64,` + base64.StdEncoding.EncodeToString(w.body.Bytes()) + `" elementtiming="first-picture" `
	return bytes.Replace(page, []byte(tag), []byte(src), 1), true
}

// openAnswerKey marks a request for share.html made inside the server to
// answer the POST that opens a share link (OpenAnswer).
type openAnswerKey struct{}

// OpenAnswer marks ctx, of a request for /share.html made inside the
// server, as the answer to the POST that opened a share link (package
// shareapi): the browser shows the page at the POST's address, so the
// page's own URLs are made relative to base, the path from that address
// to the site root ("../../" from /s/{token}/open), and the page names
// its own address (share.html with the study, relative to base) for
// first.js to take with history.replaceState, so that a reload is a GET
// of share.html. The page then arrives a round trip sooner than after a
// redirect (400 ms on slow 3G). The answer is not stored (no-store).
func OpenAnswer(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, openAnswerKey{}, base)
}

// relativeURL matches the href and src attributes of a page.
var relativeURL = regexp.MustCompile(`\s(?:href|src)="([^"]*)"`)

// rebase makes the relative URLs of page relative to base and adds the
// page's own address (a meta element first.js reads).
func rebase(page []byte, base, study string) []byte {
	page = relativeURL.ReplaceAllFunc(page, func(m []byte) []byte {
		i := bytes.IndexByte(m, '"') + 1
		v := string(m[i : len(m)-1])
		if v == "" || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "#") || strings.Contains(v, "://") {
			return m
		}
		return append(append(bytes.Clone(m[:i]), base...), m[i:]...)
	})
	self := `<meta name="page-url" content="` + base + `share.html?studyUID=` + study + `">` + "\n"
	return bytes.Replace(page, []byte(`<meta name="dicomweb-root"`), []byte(self+`<meta name="dicomweb-root"`), 1)
}

// servePage sends a share page with its stylesheet inline (allowed by
// its hash in the Content-Security-Policy): a stylesheet blocks the first
// paint, and fetching it costs another round trip on a slow link. base,
// when not empty, rebases it as the answer of an open (OpenAnswer).
func servePage(c echo.Context, page []byte, files fs.FS, base string) error {
	const link = `<link rel="stylesheet" href="style.css">`
	css, err := fs.ReadFile(files, "style.css")
	if err == nil && bytes.Contains(page, []byte(link)) {
		sum := sha256.Sum256(css)
		page = bytes.Replace(page, []byte(link), append(append([]byte("<style>"), css...), "</style>"...), 1)
		h := c.Response().Header()
		h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"),
			"style-src 'self'", "style-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", 1))
	}
	if study := c.QueryParam("studyUID"); base != "" && dcm.ValidUID(study) {
		page = rebase(page, base, study)
		c.Response().Header().Set("Cache-Control", "no-store")
	}
	return c.HTMLBlob(http.StatusOK, page)
}

// captured is the answer to a request made inside the server, kept in
// memory up to maxInlineThumbnail bytes.
type captured struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (w *captured) Header() http.Header { return w.header }

func (w *captured) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *captured) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(b) > maxInlineThumbnail {
		w.overflow = true
		return len(b), nil
	}
	return w.body.Write(b)
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
