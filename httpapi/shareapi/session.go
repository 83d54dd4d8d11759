package shareapi

import (
	"archive/zip"
	"compress/flate"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/share"
)

// Session is the auth.SessionFunc of share links: a request without an
// Authorization header that carries the share cookie becomes a patient
// principal scoped to the share's study, allowed to download only when
// the share says so (the route policy enforces both, from AccessRules and
// DICOMweb's rules). The share is looked up on every request, so a
// revocation ends sessions at once.
func (a *API) Session(r *http.Request) (auth.Principal, bool, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return auth.Principal{}, false, nil
	}
	g, err := a.opt.Shares.Session(r.Context(), ck.Value)
	if err != nil {
		return auth.Principal{}, true, fmt.Errorf("%w: the share session has ended (%v); open the link again", auth.ErrUnauthenticated, err)
	}
	return auth.Principal{Role: auth.RolePatient, User: "share:" + g.Share, Scope: g.Study, Download: g.Allow.Download}, true, nil
}

// sessionFacts is what the viewer learns of its share session.
type sessionFacts struct {
	Share    string `json:"share"`
	Study    string `json:"study"`
	Download bool   `json:"download"`
	ZipURL   string `json:"zip_url,omitempty"`
	// Bytes is the stored size of the study's files, what the zip holds
	// before compression: the viewer warns with it before a download.
	Bytes int64 `json:"bytes,omitempty"`
}

func (a *API) sessionInfo(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	if p.Scope == "" {
		return respond.New(share.ErrNotFound, "no share session: open a share link first")
	}
	f := sessionFacts{Share: p.User, Study: p.Scope, Download: p.Download}
	if p.Download {
		f.ZipURL = "shares/session/study.zip"
		ins, err := a.opt.Archive.Instances(c.Request().Context(), p.Scope, "", "")
		if err != nil {
			return err
		}
		for _, in := range ins {
			f.Bytes += in.Size
		}
	}
	return c.JSON(http.StatusOK, f)
}

// zip streams the share's study as a PS3.10 file set (see media.go):
// DICOMDIR and README.TXT first, then the files as stored, one instance at
// a time, so memory stays flat whatever the study size (the DICOMDIR is
// planned from the index, one record per instance). The route policy has
// already refused view-only sessions.
func (a *API) zip(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	if p.Scope == "" || !p.Download {
		return respond.New(share.ErrNotFound, "no share session that allows downloads")
	}
	ctx := c.Request().Context()
	ins, err := a.opt.Archive.Instances(ctx, p.Scope, "", "")
	if err != nil {
		return err
	}
	l, err := a.layout(ctx, p.Scope, ins)
	if err != nil {
		return err
	}
	dir, err := dcm.DICOMDIR(fileSetID, l.dir)
	if err != nil {
		return fmt.Errorf("zip %s: %w", p.Scope, err)
	}
	// Open the first object before answering, so that a missing one is
	// still an error status rather than a broken zip.
	first, err := a.opt.Archive.Open(ctx, ins[0])
	if err != nil {
		return err
	}
	now := a.opt.Now()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, l.disposition())
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	zw := zip.NewWriter(c.Response())
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	for _, f := range []struct {
		name string
		b    []byte
	}{{"DICOMDIR", dir}, {"README.TXT", l.readme(len(ins), now)}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: now})
		if err == nil {
			_, err = w.Write(f.b)
		}
		if err != nil {
			first.Close()
			return fmt.Errorf("zip %s: %w", f.name, err)
		}
	}
	for i, in := range ins {
		rc := first
		if i > 0 {
			if rc, err = a.opt.Archive.Open(ctx, in); err != nil {
				return fmt.Errorf("zip %s: %w", in.SOP, err) // the client sees a truncated zip
			}
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: l.paths[in.SOP], Method: zip.Deflate, Modified: now})
		if err == nil {
			_, err = io.Copy(w, rc)
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("zip %s: %w", in.SOP, err)
		}
	}
	return zw.Close()
}
