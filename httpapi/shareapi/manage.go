package shareapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/share"
)

// createRequest is the body of POST /api/v1/shares.
type createRequest struct {
	Study string `json:"study"`
	// Hours of life (default 72); Download adds DICOM and zip downloads.
	Hours    float64 `json:"hours"`
	Download bool    `json:"download"`
	PIN      string  `json:"pin"`
	Uses     int     `json:"uses"`
}

// created is the answer: the link, its QR code and the share.
type created struct {
	share.Info
	URL      string `json:"url"`
	QRPNG    string `json:"qr_png"` // data: URL
	QRSVG    string `json:"qr_svg"`
	QRPNGURL string `json:"qr_png_url"`
	QRSVGURL string `json:"qr_svg_url"`
}

func (a *API) create(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	var req createRequest
	if err := c.Bind(&req); err != nil {
		return respond.BadRequest("body must be JSON: {study, hours, download, pin, uses}")
	}
	if err := a.checkHours(req.Hours); err != nil {
		return err
	}
	if err := a.maySee(c, p, req.Study); err != nil {
		return err
	}
	sh, token, err := a.opt.Shares.Create(c.Request().Context(), share.Request{
		Study: req.Study, Lifetime: time.Duration(req.Hours * float64(time.Hour)), Allow: share.Allow{Download: req.Download},
		PIN: req.PIN, MaxUses: req.Uses, CreatedBy: actor(p), CreatorID: p.ID(), Institution: p.Institution,
	})
	if err != nil {
		return err
	}
	guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " created"})
	out := created{Info: sh.Info(a.opt.Now()), URL: a.linkURL(c, token),
		QRPNGURL: "shares/" + sh.ID + "/qr.png", QRSVGURL: "shares/" + sh.ID + "/qr.svg"}
	qr, err := share.NewQR(out.URL)
	if err != nil {
		return err
	}
	png, err := qr.PNG(320)
	if err != nil {
		return err
	}
	out.QRPNG = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	out.QRSVG = qr.SVG()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

// checkHours refuses a life outside the share service's bounds, in the
// unit of the request's field.
func (a *API) checkHours(h float64) error {
	minimum, maximum := a.opt.Shares.Lifetimes()
	hours := func(d time.Duration) string { return strconv.FormatFloat(d.Hours(), 'g', 4, 64) }
	switch {
	case h < 0:
		return respond.BadRequest("hours must be positive (or 0 for the default)")
	case h > 0 && h*float64(time.Hour) < float64(minimum):
		return respond.BadRequest(fmt.Sprintf("hours: %g is under the minimum of %s hours (%s)", h, hours(minimum), minimum))
	case h*float64(time.Hour) > float64(maximum):
		return respond.BadRequest(fmt.Sprintf("hours: %g is beyond the maximum of %s hours (%s)", h, hours(maximum), maximum))
	}
	return nil
}

func (a *API) linkURL(c echo.Context, token string) string {
	return a.siteRoot(c) + "/s/" + token
}

// maySee decides who may share a study: an admin; a clinician of the
// institution holding it; its own patient. In every case the study must
// exist and be visible to the asker through the archive's visibility rule.
// Refusals are 404, so that the existence of a study does not leak.
func (a *API) maySee(c echo.Context, p auth.Principal, study string) error {
	ctx := c.Request().Context()
	notFound := respond.New(archive.ErrNotFound, fmt.Sprintf("study %q not found (or not yours to share)", study))
	if p.Scope != "" {
		return respond.New(auth.ErrForbidden, "a share link cannot make share links")
	}
	if _, err := a.opt.Archive.Instances(ctx, study, "", ""); err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return notFound
		}
		return err
	}
	switch p.Role {
	case auth.RoleAdmin:
		return nil
	case auth.RoleClinician:
		if p.Institution != "" && a.opt.Owners != nil && a.opt.Owners.StudyInstitution(ctx, study) == p.Institution {
			return nil
		}
	case auth.RolePatient:
		if p.PersonKey != "" && a.opt.Owners != nil && a.opt.Owners.StudyPerson(ctx, study) == p.PersonKey {
			return nil
		}
	}
	return notFound
}

// mayManage decides who may see, show again or revoke a share: admins;
// its creator, matched by credential (auth.Principal.ID) and institution,
// never by user name; clinicians of the creator's institution; and the
// study's patient. A share made before creators were recorded by
// credential is matched by the other rules only.
func (a *API) mayManage(c echo.Context, sh *share.Share) bool {
	p, _ := auth.FromContext(c.Request().Context())
	switch {
	case p.Scope != "":
		return false
	case p.Role == auth.RoleAdmin:
		return true
	case sh.CreatorID != "" && sh.CreatorID == p.ID() && sh.Institution == p.Institution:
		return true
	case p.Role == auth.RoleClinician:
		return p.Institution != "" && p.Institution == sh.Institution
	case p.Role == auth.RolePatient:
		return p.PersonKey != "" && a.opt.Owners != nil && a.opt.Owners.StudyPerson(c.Request().Context(), sh.Study) == p.PersonKey
	}
	return false
}

// find loads a share the asker may manage (404 otherwise).
func (a *API) find(c echo.Context) (*share.Share, error) {
	sh, err := a.opt.Shares.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	if !a.mayManage(c, sh) {
		return nil, fmt.Errorf("%w", share.ErrNotFound)
	}
	guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID})
	return sh, nil
}

func (a *API) get(c echo.Context) error {
	sh, err := a.find(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sh.Info(a.opt.Now()))
}

func (a *API) list(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	study := c.QueryParam("study")
	if study == "" && p.Role != auth.RoleAdmin {
		return respond.BadRequest("study is required")
	}
	if study != "" {
		if err := a.maySee(c, p, study); err != nil {
			return err
		}
	}
	list, err := a.opt.Shares.List(c.Request().Context(), study)
	if err != nil {
		return err
	}
	out := make([]share.Info, 0, len(list))
	for _, sh := range list {
		if a.mayManage(c, sh) { // seeing the study is not managing its shares
			out = append(out, sh.Info(a.opt.Now()))
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) revoke(c echo.Context) error {
	sh, err := a.find(c)
	if err != nil {
		return err
	}
	p, _ := auth.FromContext(c.Request().Context())
	sh, err = a.opt.Shares.Revoke(c.Request().Context(), sh.ID, actor(p))
	if err != nil {
		return err
	}
	guard.SetNote(c, guard.Note{Study: sh.Study, Detail: "share " + sh.ID + " revoked"})
	return c.JSON(http.StatusOK, sh.Info(a.opt.Now()))
}

// qr answers the QR code of a share's link, signed again with the current
// key (the token is not stored).
func (a *API) qr(c echo.Context) (*share.QR, error) {
	sh, err := a.find(c)
	if err != nil {
		return nil, err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return share.NewQR(a.linkURL(c, a.opt.Shares.Token(sh)))
}

func (a *API) qrPNG(c echo.Context) error {
	qr, err := a.qr(c)
	if err != nil {
		return err
	}
	size := 320
	if s, err := strconv.Atoi(c.QueryParam("size")); err == nil && s >= 64 && s <= 2048 {
		size = s
	}
	b, err := qr.PNG(size)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", b)
}

func (a *API) qrSVG(c echo.Context) error {
	qr, err := a.qr(c)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/svg+xml", []byte(qr.SVG()))
}

func (a *API) keys(c echo.Context) error {
	return c.JSON(http.StatusOK, a.opt.Shares.Keys().Keys())
}

// rotate makes a new signing key; links signed before stay valid until
// their key is retired.
func (a *API) rotate(c echo.Context) error {
	if _, err := a.opt.Shares.Keys().Rotate(); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.opt.Shares.Keys().Keys())
}

// retire ends the links a key signed.
func (a *API) retire(c echo.Context) error {
	if err := a.opt.Shares.Keys().Retire(c.Param("kid")); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.opt.Shares.Keys().Keys())
}

// actor names a principal in share records.
func actor(p auth.Principal) string {
	who := p.User
	if who == "" && p.TokenID != "" {
		who = "token:" + p.TokenID
	}
	return string(p.Role) + ":" + who
}
