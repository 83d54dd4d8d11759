package dicomweb

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/render"
)

// Rendered resources and thumbnails (PS3.18 10.4.1.1.3 and 10.4.1.1.5).
//
// Study and series rendered resources and thumbnails show one
// representative image: the middle instance (by InstanceNumber) of the
// first series that has pixel data, first frame. PS3.18 also allows a
// multipart answer with every image; the gateway does not offer it.
// A multi-frame instance renders as an animated image/gif when image/gif
// is asked for by name, else as its first frame.
const (
	thumbnailSide    = 128 // default thumbnail viewport
	thumbnailQuality = 80
	maxGIFFrames     = 100  // longer cines are sampled evenly
	gifDelay         = 10   // hundredths of a second between GIF frames
	cacheVersion     = "v2" // v2: PET and saturating file windows fall back (render.DefaultWindow)
)

// renderer serves rendered resources and thumbnails. sem bounds how many
// frames are decoded at once, so memory stays flat under many requests.
type renderer struct {
	*handlers
	sem chan struct{}
}

// registerRendered mounts /rendered and /thumbnail at every level and
// returns the renderer, which WADO-URI shares.
func registerRendered(g *echo.Group, h *handlers) *renderer {
	r := &renderer{handlers: h, sem: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	for _, p := range []string{
		"/studies/:study",
		"/studies/:study/series/:series",
		"/studies/:study/series/:series/instances/:sop",
		"/studies/:study/series/:series/instances/:sop/frames/:frames",
	} {
		g.GET(p+"/rendered", r.serve(false))
		g.GET(p+"/thumbnail", r.serve(true))
	}
	return r
}

// renderRequest is a parsed rendered or thumbnail request.
type renderRequest struct {
	study, series, sop string
	frames             []int // from the path; nil when not named
	media              string
	gifAsked           bool // image/gif asked for by name
	window             *render.Window
	viewport           render.Viewport
	quality            int
	thumbnail          bool
}

func (r *renderer) serve(thumbnail bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := parseRenderRequest(c, thumbnail)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		ins, err := r.svc.Instances(ctx, req.study, req.series, req.sop)
		if err != nil {
			return err
		}
		in, err := representative(ins)
		if err != nil {
			return err
		}
		if video := dcm.IsVideo(in.TransferSyntax); video || strings.HasPrefix(req.media, "video/") {
			return r.serveVideo(c, req, in, video)
		}
		nums := r.frameNumbers(req, in)
		key := ""
		if thumbnail {
			key = thumbnailKey(in, nums[0], req)
			if rc, err := r.svc.CachedGet(ctx, key); err == nil {
				defer rc.Close()
				c.Response().Header().Set("X-Cache", "hit")
				return writeImage(c, req.media, rc)
			} else if !errors.Is(err, archive.ErrNotFound) {
				r.log.Warn("thumbnail cache unreadable", "sop", in.SOP, "err", err)
			}
		}
		if len(nums) > 1 {
			return r.streamGIF(c, req, in, nums)
		}
		var buf bytes.Buffer
		win, err := r.render(c, req, in, nums, &buf)
		if err != nil {
			return err
		}
		if win != "" {
			c.Response().Header().Set("X-Rendered-Window", win)
		}
		if thumbnail {
			c.Response().Header().Set("X-Cache", "miss")
			if err := r.svc.CachePut(ctx, key, buf.Bytes()); err != nil {
				r.log.Warn("thumbnail not cached", "sop", in.SOP, "err", err)
			}
		}
		return writeImage(c, req.media, &buf)
	}
}

// serveVideo answers a rendered request for a video instance with its
// stream, as stored, when the request names its media type: frames of a
// video are not decoded, so there is no picture or thumbnail of one.
func (r *renderer) serveVideo(c echo.Context, req renderRequest, in *archive.Instance, video bool) error {
	ts := in.TransferSyntax
	if !video {
		return notAcceptable(fmt.Sprintf("cannot meet Accept %q: instance %s is not a video (transfer syntax %s); it renders as image/jpeg, image/png or image/gif", req.media, in.SOP, ts))
	}
	if req.thumbnail || !videoType(ts, req.media) {
		return notAcceptable(fmt.Sprintf("instance %s is %s video (transfer syntax %s): frames of a video are not rendered as pictures; ask /rendered with Accept: %s for the stream",
			in.SOP, render.SyntaxName(ts), ts, dcm.VideoMedia(ts)))
	}
	frames, err := r.svc.Frames(c.Request().Context(), in, []int{1})
	if err != nil {
		return err
	}
	rc, err := frames[0].Open(c.Request().Context())
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Content-Length", strconv.FormatInt(frames[0].Length, 10))
	return c.Stream(http.StatusOK, req.media, rc)
}

// writeImage sends an encoded picture. Instances never change under their
// UID, so browsers may keep pictures a while (privately).
func writeImage(c echo.Context, media string, body io.Reader) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=300")
	if b, ok := body.(*bytes.Buffer); ok {
		h.Set("Content-Length", strconv.Itoa(b.Len()))
	}
	return c.Stream(http.StatusOK, media, body)
}

// prepared is what rendering the frames of an instance needs.
type prepared struct {
	p      *render.Params
	frames []*archive.Frame
	opt    render.Options
	// decoded is true when the frames are compressed and the archive can
	// decode them (svc.Decoded); render.Frame decodes the others itself,
	// or says why it cannot.
	decoded bool
	svc     *archive.Service
}

// prepare reads the rendering parameters and the palette of in, resolves
// the frames nums and takes a decoding slot; release gives it back. An
// animation that could exceed MaxAnswerBytes is refused here, before any
// frame is decoded.
func (r *renderer) prepare(c echo.Context, req renderRequest, in *archive.Instance, nums []int) (pr prepared, release func(), err error) {
	ctx := c.Request().Context()
	p, err := render.ParamsFrom(in.Attrs)
	if err != nil {
		return pr, nil, fmt.Errorf("instance %s: %w", in.SOP, err)
	}
	// Frames come from the archive as little endian words, big-endian
	// storage included (see archive.Frames).
	p.BigEndian = false
	if crop := req.viewport.Crop; !crop.Empty() && !crop.In(image.Rect(0, 0, p.Columns, p.Rows)) {
		return pr, nil, badRequest(fmt.Sprintf("viewport region %v is outside the %dx%d image", crop, p.Columns, p.Rows))
	}
	frames, err := r.svc.Frames(ctx, in, nums)
	if err != nil {
		return pr, nil, err
	}
	if len(frames) > 1 {
		bound := int64(len(frames)) * render.GIFFrameBound(max(p.Columns, req.viewport.Width), max(p.Rows, req.viewport.Height))
		if bound > r.opt.MaxAnswerBytes {
			return pr, nil, answerTooLarge(len(frames), bound, r.opt.MaxAnswerBytes)
		}
	}
	if p.Palette != nil {
		if err := r.loadPalette(c, in, p); err != nil {
			return pr, nil, err
		}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return pr, nil, ctx.Err()
	}
	opt := render.Options{Window: req.window, Viewport: req.viewport, Codecs: r.svc.Codecs()}
	decoded := in.Frames.Encapsulated && r.svc.Servable(in, dcm.ExplicitVRLittleEndian) == nil
	return prepared{p: p, frames: frames, opt: opt, decoded: decoded, svc: r.svc}, func() { <-r.sem }, nil
}

// renderOne decodes, windows and fits one frame. The first window found
// is kept in pr for the frames after it (one window for every frame of a
// cine).
func renderOne(c echo.Context, pr *prepared, in *archive.Instance, f *archive.Frame) (image.Image, render.Window, error) {
	p, syntax := pr.p, f.TransferSyntax
	var data []byte
	var err error
	if pr.decoded {
		// Compressed frames decode through the archive's cache of decoded
		// frames: every window and viewport of a frame decodes it once.
		var photometric string
		data, photometric, err = pr.svc.Decoded(c.Request().Context(), in, f)
		p, syntax = p.Decoded(photometric), dcm.ExplicitVRLittleEndian
	} else {
		data, err = readFrame(c, f)
	}
	if err != nil {
		return nil, render.Window{}, err
	}
	img, win, err := render.Frame(p, syntax, data, pr.opt)
	if err != nil {
		return nil, win, fmt.Errorf("render %s frame %d: %w", in.SOP, f.Number, err)
	}
	if pr.opt.Window == nil && win.Width > 0 {
		pr.opt.Window = &win
	}
	return img, win, nil
}

// render decodes, windows, fits and encodes one frame of in into w. It
// returns the window applied to grayscale pictures, formatted.
func (r *renderer) render(c echo.Context, req renderRequest, in *archive.Instance, nums []int, w io.Writer) (string, error) {
	pr, release, err := r.prepare(c, req, in, nums)
	if err != nil {
		return "", err
	}
	defer release()
	img, win, err := renderOne(c, &pr, in, pr.frames[0])
	if err != nil {
		return "", err
	}
	if err := render.Encode(w, img, req.media, req.quality); err != nil || win.Width == 0 {
		return "", err
	}
	return win.String(), nil
}

// streamGIF renders several frames as an animated GIF written frame by
// frame: one frame is in memory at a time, and the answer never exceeds
// MaxAnswerBytes. Errors before the first frame is written get a status;
// after it, the answer is cut (the status is sent).
func (r *renderer) streamGIF(c echo.Context, req renderRequest, in *archive.Instance, nums []int) error {
	pr, release, err := r.prepare(c, req, in, nums)
	if err != nil {
		return err
	}
	defer release()
	aw := &answerWriter{c: c, media: render.MediaGIF, limit: r.opt.MaxAnswerBytes}
	gw := render.NewGIFWriter(aw, gifDelay)
	fail := func(err error) error {
		if !aw.started {
			return err
		}
		r.log.Error("rendered animation cut", "sop", in.SOP, "err", err)
		return nil
	}
	for i, f := range pr.frames {
		img, win, err := renderOne(c, &pr, in, f)
		if err != nil {
			return fail(err)
		}
		if i == 0 && win.Width > 0 {
			c.Response().Header().Set("X-Rendered-Window", win.String())
		}
		if err := gw.WriteFrame(img); err != nil {
			return fail(err)
		}
	}
	return fail(gw.Close())
}

// answerWriter sends the status and headers of an image answer with its
// first bytes, and refuses to write more than limit bytes in all.
type answerWriter struct {
	c       echo.Context
	media   string
	limit   int64
	n       int64
	started bool
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if a.n+int64(len(p)) > a.limit {
		return 0, fmt.Errorf("answer cut at %d bytes: more than the %d bytes one answer may hold", a.n, a.limit)
	}
	if !a.started {
		h := a.c.Response().Header()
		h.Set("Cache-Control", "private, max-age=300")
		h.Set(echo.HeaderContentType, a.media)
		a.c.Response().WriteHeader(http.StatusOK)
		a.started = true
	}
	n, err := a.c.Response().Write(p)
	a.n += int64(n)
	return n, err
}

// readFrame reads one frame's bytes.
func readFrame(c echo.Context, f *archive.Frame) ([]byte, error) {
	rc, err := f.Open(c.Request().Context())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, f.Length)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("read frame %d: %w", f.Number, err)
	}
	return data, nil
}

// loadPalette fetches the red, green and blue palette LUT data: bulk data
// when the tables were large, else the InlineBinary values of the
// instance's metadata.
func (r *renderer) loadPalette(c echo.Context, in *archive.Instance, p *render.Params) error {
	ctx := c.Request().Context()
	var data [3][]byte
	var meta dcm.Dataset
	for i, tag := range render.PaletteDataTags() {
		rc, _, err := r.svc.Bulk(ctx, in, tag)
		if err == nil {
			data[i], err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("read palette %s: %w", tag, err)
			}
			continue
		}
		if !errors.Is(err, archive.ErrNotFound) {
			return err
		}
		if meta == nil {
			var buf bytes.Buffer
			if err := r.svc.WriteMetadata(ctx, &buf, in.Study, in.Series, in.SOP, ""); err != nil {
				return err
			}
			var all []dcm.Dataset
			if err := json.Unmarshal(buf.Bytes(), &all); err != nil || len(all) != 1 {
				return fmt.Errorf("read metadata of %s for its palette: %v", in.SOP, err)
			}
			meta = all[0]
		}
		e := meta[tag]
		if e == nil || e.InlineBinary == "" {
			return &render.UnsupportedError{Reason: "PALETTE COLOR image without palette LUT data " + tag + " (segmented palettes are not rendered)"}
		}
		if data[i], err = base64.StdEncoding.DecodeString(e.InlineBinary); err != nil {
			return fmt.Errorf("palette %s of %s: %w", tag, in.SOP, err)
		}
	}
	return p.SetPalette(data[0], data[1], data[2])
}

// frameNumbers picks the frames to render: those named in the path, every
// frame (sampled down to maxGIFFrames) of a multi-frame instance asked as
// image/gif, else the first.
func (r *renderer) frameNumbers(req renderRequest, in *archive.Instance) []int {
	if req.frames != nil {
		if req.thumbnail {
			return req.frames[:1]
		}
		return req.frames // at most maxGIFFrames (parseRenderRequest)
	}
	n := len(in.Frames.Frames)
	if req.thumbnail || !req.gifAsked || n < 2 || req.sop == "" {
		return []int{1}
	}
	k := min(n, maxGIFFrames)
	out := make([]int, k)
	for i := range out {
		out[i] = 1 + i*n/k
	}
	return out
}

// representative picks the instance that stands for a study or series:
// the middle one, by InstanceNumber, of the first series with images.
func representative(ins []*archive.Instance) (*archive.Instance, error) {
	if len(ins) == 1 {
		return ins[0], nil
	}
	var series string
	var stack []*archive.Instance
	for _, in := range ins {
		if len(in.Frames.Frames) == 0 {
			continue
		}
		if series == "" {
			series = in.Series
		}
		if in.Series == series {
			stack = append(stack, in)
		}
	}
	if len(stack) == 0 {
		return nil, fmt.Errorf("no instance has pixel data to render: %w", archive.ErrNotFound)
	}
	slices.SortStableFunc(stack, func(a, b *archive.Instance) int {
		x, _ := a.Attrs.Int("00200013")
		y, _ := b.Attrs.Int("00200013")
		return cmp.Compare(x, y)
	})
	return stack[(len(stack)-1)/2], nil
}

// thumbnailKey names a cached thumbnail: the instance, frame and every
// parameter that changes the picture.
func thumbnailKey(in *archive.Instance, frame int, req renderRequest) string {
	ext := strings.TrimPrefix(req.media, "image/")
	return fmt.Sprintf("thumbnails/%s/%s/%s/%s/f%d-%dx%d-q%d.%s", cacheVersion, in.Study, in.Series, in.SOP,
		frame, req.viewport.Width, req.viewport.Height, req.quality, ext)
}

// parseRenderRequest reads UIDs, frames, Accept (or the accept query
// parameter) and the window, viewport and quality parameters (PS3.18
// 8.3.5.1). Thumbnails take viewport and quality only.
func parseRenderRequest(c echo.Context, thumbnail bool) (renderRequest, error) {
	var req renderRequest
	var err error
	req.thumbnail = thumbnail
	if req.study, req.series, req.sop, err = uids(c); err != nil {
		return req, err
	}
	if f := c.Param("frames"); f != "" {
		if req.frames, err = parseFrameList(f); err != nil {
			return req, err
		}
	}
	q := c.QueryParams()
	accept := c.Request().Header.Get("Accept")
	if a := q.Get("accept"); a != "" {
		accept = a
	}
	var named bool
	if req.media, named, err = negotiateImage(accept); err != nil {
		return req, err
	}
	req.gifAsked = named && req.media == render.MediaGIF
	if len(req.frames) > 1 && req.media != render.MediaGIF && !thumbnail {
		return req, notAcceptable(fmt.Sprintf("%d frames render as one animated image/gif only: ask Accept: image/gif, or one frame", len(req.frames)))
	}
	if len(req.frames) > maxGIFFrames && !thumbnail {
		return req, badRequest(fmt.Sprintf("%d frames named: at most %d frames render as one animation", len(req.frames), maxGIFFrames))
	}
	if req.viewport, err = parseViewport(q); err != nil {
		return req, err
	}
	if req.quality, err = parseQuality(q); err != nil {
		return req, err
	}
	if thumbnail {
		if req.viewport.Width == 0 {
			req.viewport.Width, req.viewport.Height = thumbnailSide, thumbnailSide
		}
		req.viewport.Crop = image.Rectangle{}
		if req.quality == 0 {
			req.quality = thumbnailQuality
		}
		return req, nil
	}
	if s := q.Get("window"); s != "" {
		w, err := render.ParseWindow(s)
		if err != nil {
			return req, badRequest(err.Error())
		}
		req.window = &w
	}
	return req, nil
}

// negotiateImage picks the picture type from Accept: image/jpeg, image/png
// or image/gif by name, or JPEG for image/* and */*.
func negotiateImage(accept string) (media string, named bool, err error) {
	for _, m := range parseAccept(accept) {
		switch m.typ {
		case render.MediaJPEG, render.MediaPNG, render.MediaGIF:
			return m.typ, true, nil
		case "image/*", "*/*":
			return render.MediaJPEG, false, nil
		}
		if strings.HasPrefix(m.typ, "video/") {
			return m.typ, true, nil // a video instance's stream (serveVideo)
		}
	}
	return "", false, notAcceptable(fmt.Sprintf("cannot meet Accept %q: rendered images are image/jpeg, image/png or image/gif", accept))
}

// parseViewport reads viewport=vw,vh[,sx,sy,sw,sh] (PS3.18 8.3.5.1.3):
// the width comes first, then the height, then an optional source region.
func parseViewport(q url.Values) (render.Viewport, error) {
	s := q.Get("viewport")
	if s == "" {
		return render.Viewport{}, nil
	}
	bad := func(why string) error {
		return badRequest(fmt.Sprintf("viewport=%q: %s (want vw,vh[,sx,sy,sw,sh])", s, why))
	}
	parts := strings.Split(s, ",")
	if len(parts) != 2 && len(parts) != 6 {
		return render.Viewport{}, bad("2 or 6 values")
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return render.Viewport{}, bad("values are integers")
		}
		n[i] = v
	}
	if n[0] < 1 || n[1] < 1 || n[0] > render.MaxViewport || n[1] > render.MaxViewport {
		return render.Viewport{}, bad(fmt.Sprintf("width and height are 1 to %d", render.MaxViewport))
	}
	vp := render.Viewport{Width: n[0], Height: n[1]}
	if len(n) == 6 {
		if n[2] < 0 || n[3] < 0 || n[4] < 1 || n[5] < 1 {
			return render.Viewport{}, bad("the region starts at 0 or more and has a positive size (flipping is not supported)")
		}
		vp.Crop = image.Rect(n[2], n[3], n[2]+n[4], n[3]+n[5])
	}
	return vp, nil
}

// parseQuality reads quality=1..100 (JPEG only; 0 when absent).
func parseQuality(q url.Values) (int, error) {
	s := q.Get("quality")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 100 {
		return 0, badRequest(fmt.Sprintf("quality=%q: an integer from 1 to 100", s))
	}
	return v, nil
}
