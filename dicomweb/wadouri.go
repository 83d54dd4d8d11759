package dicomweb

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/render"
)

// WADO-URI (PS3.18 chapter 9): one object by its three UIDs, as a picture
// (image/jpeg, image/png, image/gif) or as the DICOM file. Pictures go
// through the renderer of /rendered (decode, window, fit, encode), so the
// same instance gives the same picture on both routes.
//
// A video instance (MPEG-2, H.264, HEVC) is served as its stream
// (video/mpeg or video/mp4, the default) or as the file.
//
// Not supported: presentationUID/presentationSeriesUID (presentation
// states are not applied: 406, since the picture would not be the one
// asked for), annotation (served without, with a Warning header: the
// picture is still right), anonymize=yes (406 until de-identification
// exists), charset (ignored: pictures hold no text).

// mediaDICOM is the WADO-URI and WADO-RS media type of DICOM files.
const mediaDICOM = "application/dicom"

// wadoURIRequest is a parsed WADO-URI request. Zero numbers are absent.
type wadoURIRequest struct {
	study, series, sop string
	contentType        string // as sent; "" when absent
	transferSyntax     string
	rows, columns      int
	region             []float64 // x1,y1,x2,y2 as fractions of the image
	window             *render.Window
	frame              int
	quality            int
	annotation         bool
}

// renders reports whether a parameter that only pictures take was given.
func (w wadoURIRequest) renders() bool {
	return w.rows > 0 || w.columns > 0 || w.region != nil || w.window != nil || w.frame > 0 || w.quality > 0 || w.annotation
}

// wadoURI answers WADO-URI. Images default to image/jpeg and objects
// without pixel data to application/dicom (PS3.18 9.1.2.1.3).
func (r *renderer) wadoURI(c echo.Context) error {
	req, err := parseWADOURI(c.QueryParams())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ins, err := r.svc.Instances(ctx, req.study, req.series, req.sop)
	if err != nil {
		return err
	}
	in := ins[0]
	media, err := wadoURIMedia(req.contentType, len(in.Frames.Frames) > 0, in.TransferSyntax)
	if err != nil {
		return err
	}
	if strings.HasPrefix(media, "video/") {
		if req.renders() || req.transferSyntax != "" {
			return badRequest("a video is served as stored: picture parameters and transferSyntax do not apply")
		}
		return r.serveVideo(c, renderRequest{media: media}, in, true)
	}
	if media == mediaDICOM {
		if req.renders() {
			return badRequest("rows, columns, region, windowCenter, windowWidth, frameNumber, imageQuality and annotation apply to pictures only, not to contentType application/dicom")
		}
		return r.wadoFile(c, req, in)
	}
	if req.transferSyntax != "" {
		return badRequest("transferSyntax applies to contentType application/dicom only")
	}
	rr, nums, err := req.renderRequest(in, media)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	win, err := r.render(c, rr, in, nums, &buf)
	if err != nil {
		return err
	}
	if win != "" {
		c.Response().Header().Set("X-Rendered-Window", win)
	}
	if req.annotation {
		c.Response().Header().Set("Warning", `299 - "annotation is not supported: the picture carries no burnt-in text"`)
	}
	return writeImage(c, media, &buf)
}

// wadoFile sends the stored file (or a redirect to it).
func (r *renderer) wadoFile(c echo.Context, req wadoURIRequest, in *archive.Instance) error {
	ctx := c.Request().Context()
	if ts := req.transferSyntax; ts != "" && ts != "*" && ts != in.TransferSyntax {
		if err := r.svc.ServableInstance(in, ts); err != nil {
			return notAcceptable(fmt.Sprintf("transferSyntax %s is not available: the instance is stored in %s (%v)", ts, in.TransferSyntax, err))
		}
		rc, n, err := r.svc.OpenAs(ctx, in, ts)
		if err != nil {
			return err
		}
		defer rc.Close()
		noStore(c)
		if n >= 0 {
			c.Response().Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		c.Response().Header().Set("Content-Disposition", `attachment; filename="`+in.SOP+`.dcm"`)
		return c.Stream(http.StatusOK, mediaDICOM+"; transfer-syntax="+ts, rc)
	}
	if u, ok, err := r.svc.PresignedURL(ctx, in, r.opt.PresignRedirect); err != nil {
		return err
	} else if ok {
		noStore(c)
		return c.Redirect(http.StatusTemporaryRedirect, u.String())
	}
	rc, err := r.svc.Open(ctx, in)
	if err != nil {
		return err
	}
	defer rc.Close()
	noStore(c)
	c.Response().Header().Set("Content-Length", strconv.FormatInt(in.Size, 10))
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+in.SOP+`.dcm"`)
	return c.Stream(http.StatusOK, mediaDICOM, rc)
}

// wadoURIMedia picks the answer's media type from contentType, a list
// with optional q values read like Accept. A video instance (transfer
// syntax ts) is its stream by default, or the file; never a picture.
func wadoURIMedia(contentType string, image bool, ts string) (string, error) {
	if dcm.IsVideo(ts) {
		if strings.TrimSpace(contentType) == "" {
			return dcm.VideoMedia(ts), nil
		}
		for _, m := range parseAccept(contentType) {
			switch {
			case m.typ == mediaDICOM:
				return mediaDICOM, nil
			case m.typ == "*/*" || m.typ == "video/*":
				return dcm.VideoMedia(ts), nil
			case videoType(ts, m.typ):
				return m.typ, nil
			}
		}
		return "", notAcceptable(fmt.Sprintf("contentType %q: this instance is %s video, served as %s or application/dicom; frames of a video are not rendered as pictures",
			contentType, render.SyntaxName(ts), dcm.VideoMedia(ts)))
	}
	if strings.TrimSpace(contentType) == "" {
		if image {
			return render.MediaJPEG, nil
		}
		return mediaDICOM, nil
	}
	for _, m := range parseAccept(contentType) {
		switch m.typ {
		case mediaDICOM:
			return mediaDICOM, nil
		case render.MediaJPEG, render.MediaPNG, render.MediaGIF:
			if image {
				return m.typ, nil
			}
		case "image/*":
			if image {
				return render.MediaJPEG, nil
			}
		case "*/*":
			if image {
				return render.MediaJPEG, nil
			}
			return mediaDICOM, nil
		}
	}
	if !image {
		return "", notAcceptable(fmt.Sprintf("contentType %q: this object has no pixel data and is served as application/dicom only", contentType))
	}
	return "", notAcceptable(fmt.Sprintf("contentType %q: images are served as image/jpeg, image/png, image/gif or application/dicom", contentType))
}

// parseWADOURI reads and checks the query of a WADO-URI request (PS3.18
// 9.1.2). Errors are 400, but for features the gateway lacks (406).
func parseWADOURI(q url.Values) (wadoURIRequest, error) {
	var req wadoURIRequest
	if q.Get("requestType") != "WADO" {
		return req, badRequest("requestType must be WADO")
	}
	req.study, req.series, req.sop = q.Get("studyUID"), q.Get("seriesUID"), q.Get("objectUID")
	for _, p := range []struct{ name, v string }{{"studyUID", req.study}, {"seriesUID", req.series}, {"objectUID", req.sop}} {
		if !dcm.ValidUID(p.v) {
			return req, badRequest(fmt.Sprintf("%s %q is missing or not a valid UID", p.name, p.v))
		}
	}
	switch a := q.Get("anonymize"); a {
	case "":
	case "yes":
		return req, notAcceptable("anonymize=yes: de-identification is not available on this gateway yet; ask without it")
	default:
		return req, badRequest(fmt.Sprintf("anonymize=%q: the only value is yes", a))
	}
	if q.Get("presentationUID") != "" || q.Get("presentationSeriesUID") != "" {
		return req, notAcceptable("presentationUID: presentation states are not applied by this gateway; ask without it for the image as stored")
	}
	req.contentType = q.Get("contentType")
	req.transferSyntax = q.Get("transferSyntax")
	req.annotation = q.Get("annotation") != ""
	var err error
	if req.rows, err = positive(q, "rows", render.MaxViewport); err != nil {
		return req, err
	}
	if req.columns, err = positive(q, "columns", render.MaxViewport); err != nil {
		return req, err
	}
	if req.frame, err = positive(q, "frameNumber", math.MaxInt32); err != nil {
		return req, err
	}
	if req.quality, err = positive(q, "imageQuality", 100); err != nil {
		return req, err
	}
	if s := q.Get("region"); s != "" {
		if req.region, err = parseRegion(s); err != nil {
			return req, err
		}
	}
	wc, ww := q.Get("windowCenter"), q.Get("windowWidth")
	if (wc == "") != (ww == "") {
		return req, badRequest("windowCenter and windowWidth go together: give both or neither")
	}
	if wc != "" {
		c, err1 := strconv.ParseFloat(strings.TrimSpace(wc), 64)
		w, err2 := strconv.ParseFloat(strings.TrimSpace(ww), 64)
		if err1 != nil || err2 != nil {
			return req, badRequest(fmt.Sprintf("windowCenter=%q, windowWidth=%q: both are decimal numbers", wc, ww))
		}
		win := render.Window{Center: c, Width: w, Function: render.Linear}
		if err := win.Valid(); err != nil {
			return req, badRequest(err.Error())
		}
		req.window = &win
	}
	return req, nil
}

// positive reads an optional integer parameter from 1 to most (0 when
// absent).
func positive(q url.Values, name string, most int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > most {
		return 0, badRequest(fmt.Sprintf("%s=%q: an integer from 1 to %d", name, s, most))
	}
	return v, nil
}

// parseRegion reads region=x1,y1,x2,y2: the top left and bottom right
// corners as fractions of the image's width and height (PS3.18 9.1.2.2.6).
func parseRegion(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	bad := badRequest(fmt.Sprintf("region=%q: four decimals from 0.0 to 1.0, x1,y1,x2,y2 with x1 < x2 and y1 < y2", s))
	if len(parts) != 4 {
		return nil, bad
	}
	v := make([]float64, 4)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return nil, bad
		}
		v[i] = f
	}
	if v[0] >= v[2] || v[1] >= v[3] {
		return nil, bad
	}
	return v, nil
}

// renderRequest turns the picture parameters into the renderer's terms
// for in: rows and columns fit the picture keeping its aspect ratio (one
// of them alone sets that side), region crops in source pixels first.
func (w wadoURIRequest) renderRequest(in *archive.Instance, media string) (renderRequest, []int, error) {
	rr := renderRequest{study: w.study, series: w.series, sop: w.sop, media: media, window: w.window, quality: w.quality}
	n := len(in.Frames.Frames)
	frame := 1
	if w.frame > 0 {
		if w.frame > n {
			return rr, nil, badRequest(fmt.Sprintf("frameNumber=%d: the instance has %d frame(s)", w.frame, n))
		}
		frame = w.frame
	}
	rows, _ := in.Attrs.Int("00280010")
	cols, _ := in.Attrs.Int("00280011")
	if w.region != nil {
		r := image.Rect(int(math.Floor(w.region[0]*float64(cols))), int(math.Floor(w.region[1]*float64(rows))),
			int(math.Ceil(w.region[2]*float64(cols))), int(math.Ceil(w.region[3]*float64(rows))))
		if r.Empty() {
			return rr, nil, badRequest(fmt.Sprintf("region %v of the %dx%d image holds no pixel", w.region, cols, rows))
		}
		rr.viewport.Crop = r
	}
	switch {
	case w.rows > 0 && w.columns > 0:
		rr.viewport.Width, rr.viewport.Height = w.columns, w.rows
	case w.rows > 0:
		rr.viewport.Width, rr.viewport.Height = render.MaxViewport, w.rows
	case w.columns > 0:
		rr.viewport.Width, rr.viewport.Height = w.columns, render.MaxViewport
	}
	return rr, []int{frame}, nil
}
