package auth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SharePrefix is where share-link sessions find their own API (session
// facts and the study zip, httpapi/shareapi).
const SharePrefix = "/api/v1/shares/session"

// CheckScope applies the limits of a scoped principal (a share-link
// session): it may only read its one study, through the routes a viewer
// needs, and may download DICOM only when its share allows it. It is the
// one place where these limits are enforced (Authenticator.Check calls it
// on every authenticated request); the archive's visibility rule hides
// other studies as well, as a second line.
//
// Other studies answer 403 whether or not they exist, so nothing leaks.
// Unscoped principals pass untouched.
func CheckScope(p Principal, r *http.Request) error {
	if p.Scope == "" {
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("%w: a share link only reads", ErrForbidden)
	}
	// Encoded slashes or dots could make the router see another path than
	// the one checked here.
	if r.URL.RawPath != "" || strings.Contains(r.URL.Path, "/../") || strings.Contains(r.URL.Path, "//") {
		return fmt.Errorf("%w: a share link opens one study only", ErrForbidden)
	}
	if !inScope(p.Scope, r.URL.Path, r.URL.Query()) {
		return fmt.Errorf("%w: a share link opens one study only", ErrForbidden)
	}
	if !p.Download && IsDownload(r.URL.Path) {
		return fmt.Errorf("%w: this share link allows viewing only; downloading DICOM files was not allowed by whoever shared it", ErrForbidden)
	}
	return nil
}

// inScope reports whether a read of path stays within study.
func inScope(study, path string, q url.Values) bool {
	switch {
	case path == SharePrefix || strings.HasPrefix(path, SharePrefix+"/"):
		return true
	case path == "/dicomweb/studies":
		// The viewer's study query: exactly this study and nothing else
		// that could widen it.
		v := q["StudyInstanceUID"]
		return len(v) == 1 && v[0] == study && len(q["0020000D"]) == 0
	case path == "/dicomweb/wado":
		v := q["studyUID"]
		return len(v) == 1 && v[0] == study
	}
	rest, ok := strings.CutPrefix(path, "/dicomweb/studies/")
	if !ok {
		return false
	}
	uid, _, _ := strings.Cut(rest, "/")
	return uid == study
}

// IsDownload classifies the routes that hand out DICOM data rather than
// pictures: WADO-RS retrieval of a study, series or instance (no suffix),
// bulk data, WADO-URI (served as application/dicom) and the share zip.
// Metadata, frames, rendered images and thumbnails are viewing.
func IsDownload(path string) bool {
	if path == "/dicomweb/wado" || strings.HasPrefix(path, SharePrefix+"/") && strings.HasSuffix(path, ".zip") {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/dicomweb/studies/")
	if !ok {
		return false
	}
	seg := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch len(seg) {
	case 1, 3, 5: // {study}, {study}/series/{se}, .../instances/{sop}
		return true
	}
	for _, s := range seg {
		if s == "bulkdata" {
			return true
		}
	}
	return false
}
