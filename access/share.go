package access

import (
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/auth"
)

// shareScope is the share-session rule: a scoped principal (a share link's
// session) only reads, only its one study, through the routes whose rule
// opens them to share sessions, and downloads DICOM only when its share
// allows it. The visibility rule hides other studies as well, as a second
// line. Other studies answer 403 whether or not they exist, so nothing
// leaks. Unscoped principals pass untouched.
func shareScope(p auth.Principal, r Rule, c Call) error {
	if p.Scope == "" {
		return nil
	}
	if c.Method != "GET" && c.Method != "HEAD" {
		return fmt.Errorf("%w: a share link only reads", auth.ErrForbidden)
	}
	if !inScope(p.Scope, r, c) {
		return fmt.Errorf("%w: a share link opens one study only", auth.ErrForbidden)
	}
	if r.Download && !p.Download && !picturesOnly(r, c) {
		return fmt.Errorf("%w: this share link allows viewing only; downloading DICOM files was not allowed by whoever shared it", auth.ErrForbidden)
	}
	return nil
}

// inScope reports whether a call stays within study, as the route's rule
// says.
func inScope(study string, r Rule, c Call) bool {
	switch r.Share {
	case ShareSession:
		return true
	case ShareStudy:
		return c.Study == study
	case ShareQuery:
		if len(r.StudyQuery) == 0 {
			return false
		}
		v := c.Query[r.StudyQuery[0]]
		if len(v) != 1 || v[0] != study {
			return false
		}
		for _, alias := range r.StudyQuery[1:] {
			if len(c.Query[alias]) > 0 {
				return false
			}
		}
		return true
	}
	return false
}

// picturesOnly reports whether a call of a Download route asks for
// pictures only, by its PictureQuery parameter. Values are split on every
// comma, quoted or not, so a list the handler reads as naming a non-image
// type is never classed as pictures.
func picturesOnly(r Rule, c Call) bool {
	vs := c.Query[r.PictureQuery]
	if r.PictureQuery == "" || len(vs) == 0 {
		return false
	}
	for _, v := range vs {
		for _, m := range strings.Split(v, ",") {
			if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(m)), "image/") {
				return false
			}
		}
	}
	return true
}
