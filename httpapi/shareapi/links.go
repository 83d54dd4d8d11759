package shareapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/viewer"
	"github.com/imgcloud/gateway/internal/siteurl"
	"github.com/imgcloud/gateway/share"
)

// CookieName is the share session cookie. Its value is a signed session
// token (share id, study, rights, expiry), never the link's token.
const CookieName = "gw_share"

// landing answers GET /s/{token}: a page that says what the link is for,
// without patient data, with an Open button. Chat apps fetch links to
// build previews, so this neither uses the link up nor sets a session.
func (a *API) landing(c echo.Context) error {
	if blocked, err := a.blocked(c); err != nil || blocked {
		if err != nil {
			return err
		}
		guard.SetNote(c, guard.Note{Detail: "share link rate limited"})
		return render(c, pageTooMany)
	}
	sh, err := a.opt.Shares.Check(c.Request().Context(), c.Param("token"))
	if err != nil {
		return a.failed(c, sh, "preview", err)
	}
	guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " preview"})
	return render(c, a.form(c, sh, "", ""))
}

// form is the landing page of a usable share.
func (a *API) form(c echo.Context, sh *share.Share, pinErr, pinErrEn string) page {
	left := -1
	if sh.MaxUses > 0 {
		left = sh.MaxUses - sh.Uses
	}
	ex := a.exam(c.Request().Context(), sh.Study)
	text, textEn := "有人与您分享了一项医学影像检查。点击“打开”在本设备上查看。", "Someone shared a medical imaging study with you. Tap Open to view it on this device."
	if ex.Hospital != "" {
		text, textEn = ex.Hospital+"与您分享了一项医学影像检查。点击“打开”在本设备上查看。", ex.Hospital+" shared a medical imaging study with you. Tap Open to view it on this device."
	}
	return page{Status: http.StatusOK, Title: "影像检查分享", TitleEn: "A shared imaging study", Exam: ex,
		Text: text, TextEn: textEn,
		Form: true, PIN: sh.PIN != nil, Action: formAction(c),
		Expires: sh.Expires.In(cst).Format("2006-01-02 15:04") + " (北京时间 CST)", Download: sh.Allow.Download,
		UsesLeft: left, PINError: pinErr, PINErrEn: pinErrEn}
}

// exam reads what the landing page names of the shared study, as the
// share's own session would see it (a patient principal scoped to the
// study); a study it cannot read leaves the fields empty.
func (a *API) exam(ctx context.Context, study string) exam {
	ctx = auth.WithPrincipal(ctx, auth.Principal{Role: auth.RolePatient, User: "share-landing", Scope: study})
	res, err := a.opt.Archive.Search(ctx, archive.Query{Level: archive.LevelStudy, Limit: 1,
		Params:  []archive.Param{{Tag: "0020000D", Value: study}},
		Include: []string{"00081030", "00080020", "00080080"}}, archive.Scope{})
	if err != nil || len(res.Items) == 0 {
		return exam{}
	}
	ds := res.Items[0]
	ex := exam{Hospital: ds.String("00080080"), Description: ds.String("00081030")}
	if d := ds.String("00080020"); len(d) == 8 {
		ex.Date = d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return ex
}

// formAction is where the landing form posts, relative to the page that
// shows it (so that a reverse proxy's prefix is kept): the form is shown at
// /s/{token} and, again after a wrong PIN, at /s/{token}/open.
func formAction(c echo.Context) string {
	if strings.HasSuffix(c.Path(), "/open") {
		return "open"
	}
	return url.PathEscape(c.Param("token")) + "/open"
}

// open answers POST /s/{token}/open: the explicit action that checks the
// PIN, counts a use, sets the session cookie and answers with the viewer
// showing the one study (Options.PageOnOpen), else sends the browser
// there (303).
func (a *API) open(c echo.Context) error {
	now := a.opt.Now()
	if blocked, err := a.blocked(c); err != nil || blocked {
		if err != nil {
			return err
		}
		guard.SetNote(c, guard.Note{Detail: "share link rate limited"})
		return render(c, pageTooMany)
	}
	r := c.Request()
	if why := a.crossSite(c); why != "" {
		// Login CSRF: another site's page posting the form would spend a
		// use and plant its session in this browser. Not a guessing
		// failure: the victim's address is not penalised.
		guard.SetNote(c, guard.Note{Detail: "share link open refused: cross-site (" + why + ")"})
		return render(c, pageCrossSite)
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, 4096)
	pin := r.PostFormValue("pin")
	sh, sess, err := a.opt.Shares.Open(r.Context(), c.Param("token"), pin)
	switch {
	case errors.Is(err, share.ErrPINRequired):
		guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " open: PIN missing"})
		p := a.form(c, sh, "请输入访问码", "Enter the PIN")
		p.Status, p.cause = 0, err
		return render(c, p)
	case errors.Is(err, share.ErrWrongPIN):
		a.fail(c)
		guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " open: PIN wrong"})
		left := a.opt.Shares.Remaining(sh)
		p := a.form(c, sh, fmt.Sprintf("访问码错误，还可尝试 %d 次", left), fmt.Sprintf("Wrong PIN; %d attempts left", left))
		p.Status, p.cause = 0, err
		return render(c, p)
	case err != nil:
		if errors.Is(err, share.ErrLocked) && sh != nil && sh.FailedPINs > 0 {
			a.fail(c) // this very attempt locked it
		}
		return a.failed(c, sh, "open", err)
	}
	detail := fmt.Sprintf("share %s open ok (use %d", sh.ID, sh.Uses)
	if sh.MaxUses > 0 {
		detail += fmt.Sprintf(" of %d", sh.MaxUses)
	}
	guard.SetNote(c, guard.Note{Study: sh.Study, Detail: detail + ")"})
	c.SetCookie(&http.Cookie{
		Name: CookieName, Value: sess.Value, Path: "/", Expires: sess.Expires,
		MaxAge: max(1, int(sess.Expires.Sub(now).Seconds())), HttpOnly: true,
		Secure: a.secure(r), SameSite: http.SameSiteStrictMode,
	})
	c.Response().Header().Set("Cache-Control", "no-store")
	if a.opt.PageOnOpen {
		return sharePage(c, sh.Study, sess.Value)
	}
	// Relative to /s/{token}/open, so a reverse proxy's prefix is kept.
	return c.Redirect(http.StatusSeeOther, "../../share.html?"+url.Values{"studyUID": {sh.Study}}.Encode())
}

// sharePage answers an open with the share page of study: a GET of
// /share.html made inside the server (through every middleware, as the
// browser's own GET after a redirect is) with the request's headers and
// the new session's cookie in place of any other session, marked for the
// viewer to serve it at this address (viewer.OpenAnswer).
func sharePage(c echo.Context, study, session string) error {
	r := c.Request()
	sub, err := http.NewRequestWithContext(viewer.OpenAnswer(r.Context(), "../../"), http.MethodGet,
		"/share.html?"+url.Values{"studyUID": {study}}.Encode(), nil)
	if err != nil {
		return fmt.Errorf("share page request: %w", err)
	}
	sub.Header = r.Header.Clone()
	for _, h := range []string{"Content-Type", "Content-Length", "Cookie"} {
		sub.Header.Del(h)
	}
	sub.AddCookie(&http.Cookie{Name: CookieName, Value: session})
	for _, ck := range r.Cookies() {
		if ck.Name != CookieName {
			sub.AddCookie(ck)
		}
	}
	sub.RemoteAddr, sub.Host = r.RemoteAddr, r.Host
	c.Echo().ServeHTTP(c.Response(), sub)
	return nil
}

// crossSite says why a POST to open a link comes from another site, or ""
// when it may proceed. Sec-Fetch-Site, when sent, decides: same-origin
// (the landing page's own form) or none (typed by the user) pass. Without
// it, an Origin must name this gateway's host (the public URL's, or the
// one the request reached); a request with neither header (browsers
// before 2019, curl, scripts) passes, as no browser sends a cross-site
// form without one of them today. The landing page's Referrer-Policy
// (same-origin) makes browsers send its real Origin, never "null".
func (a *API) crossSite(c echo.Context) string {
	r := c.Request()
	switch f := r.Header.Get("Sec-Fetch-Site"); f {
	case "same-origin", "none":
		return ""
	case "":
	default:
		return "Sec-Fetch-Site " + truncate(f, 20)
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return ""
	}
	if u, err := url.Parse(o); err == nil && u.Host != "" {
		for _, root := range []string{a.siteRoot(c), siteurl.Root(r, a.opt.TrustForwarded)} {
			if ru, err := url.Parse(root); err == nil && strings.EqualFold(u.Host, ru.Host) {
				return ""
			}
		}
	}
	return "Origin " + truncate(o, 80)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// blocked reports whether the client's address has used up its failures.
func (a *API) blocked(c echo.Context) (bool, error) {
	b, err := a.fails.Blocked(c.RealIP())
	if err != nil {
		return false, fmt.Errorf("share link failures of the address: %w", err)
	}
	return b, nil
}

// fail counts a failure of the client's address. One that cannot be
// counted (the index away) is logged; the answer stands.
func (a *API) fail(c echo.Context) {
	if err := a.fails.Fail(c.RealIP()); err != nil {
		a.opt.Logger.Error("count a share link failure", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
}

// invalid answers any other path under /s/.
func (a *API) invalid(c echo.Context) error {
	if blocked, err := a.blocked(c); err != nil || blocked {
		if err != nil {
			return err
		}
		return render(c, pageTooMany)
	}
	a.fail(c)
	guard.SetNote(c, guard.Note{Detail: "share link invalid"})
	return render(c, pageInvalid)
}

// failed answers a link that cannot be used, with its page; invalid
// links count against the client's address (guessing).
func (a *API) failed(c echo.Context, sh *share.Share, what string, err error) error {
	p, reason := pageError, "error"
	switch {
	case errors.Is(err, share.ErrInvalidToken):
		a.fail(c)
		p, reason = pageInvalid, "invalid"
	case errors.Is(err, share.ErrExpired):
		p, reason = pageExpired, "expired"
	case errors.Is(err, share.ErrRevoked):
		p, reason = pageRevoked, "revoked"
	case errors.Is(err, share.ErrLocked):
		p, reason = pageLocked, "locked"
	case errors.Is(err, share.ErrUsedUp):
		p, reason = pageUsedUp, "used up"
	default:
		a.opt.Logger.Error("share link", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	n := guard.Note{Detail: "share link " + what + ": " + reason}
	if sh != nil {
		n = guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " " + what + ": " + reason}
	}
	guard.SetNote(c, n)
	return render(c, p)
}
