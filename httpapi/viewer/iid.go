package viewer

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/dcm"
)

// invokeImageDisplay implements the Image Display side of IHE IID (RAD TF-2
// 4.106): requestType=STUDY with studyUID (one or a comma-separated list)
// or accessionNumber, or requestType=PATIENT with patientID in HL7 CX form
// (ID^^^&issuer&ISO) and optional lowerDateTime/upperDateTime. It answers
// 302 to the viewer page that shows them; the Location is relative, so it
// stays right behind a reverse proxy that adds a path prefix. viewerType,
// diagnosticQuality and keyImagesOnly are accepted and ignored.
func invokeImageDisplay(c echo.Context) error {
	q := c.QueryParams()
	switch rt := q.Get("requestType"); rt {
	case "STUDY":
		return studyRedirect(c, q)
	case "PATIENT":
		return patientRedirect(c, q)
	case "":
		return badRequest("requestType is required: STUDY (with studyUID or accessionNumber) or PATIENT (with patientID)")
	default:
		return badRequest(fmt.Sprintf("requestType %q is not supported: use STUDY or PATIENT", rt))
	}
}

func studyRedirect(c echo.Context, q url.Values) error {
	if s := q.Get("studyUID"); s != "" {
		uids := strings.Split(s, ",")
		if len(uids) > 100 {
			return badRequest("studyUID: at most 100 studies")
		}
		for _, u := range uids {
			if !dcm.ValidUID(u) {
				return badRequest(fmt.Sprintf("studyUID %q is not a valid UID (digits and dots, at most 64 characters)", u))
			}
		}
		if len(uids) == 1 {
			return c.Redirect(http.StatusFound, "study.html?"+url.Values{"studyUID": {s}}.Encode())
		}
		return c.Redirect(http.StatusFound, "./?"+url.Values{"studyUID": {s}}.Encode())
	}
	if a := q.Get("accessionNumber"); a != "" {
		if !validValue(a, 16*100) {
			return badRequest("accessionNumber holds control characters or is too long")
		}
		return c.Redirect(http.StatusFound, "./?"+url.Values{"accession": {a}}.Encode())
	}
	return badRequest("requestType=STUDY needs studyUID or accessionNumber")
}

func patientRedirect(c echo.Context, q url.Values) error {
	raw := q.Get("patientID")
	if raw == "" {
		return badRequest("requestType=PATIENT needs patientID (HL7 CX: ID^^^&issuer&ISO)")
	}
	id, issuer := parseCX(raw)
	if id == "" || !validValue(id, 64) || !validValue(issuer, 64) {
		return badRequest(fmt.Sprintf("patientID %q: the ID is 1 to 64 characters without control characters or backslashes", raw))
	}
	v := url.Values{"patientID": {id}}
	if issuer != "" {
		v.Set("issuer", issuer)
	}
	for param, key := range map[string]string{"lowerDateTime": "from", "upperDateTime": "to"} {
		if s := q.Get(param); s != "" {
			d, ok := isoDate(s)
			if !ok {
				return badRequest(fmt.Sprintf("%s %q is not an ISO 8601 date-time such as 2026-01-31T00:00:00Z", param, s))
			}
			v.Set(key, d)
		}
	}
	return c.Redirect(http.StatusFound, "./?"+v.Encode())
}

// parseCX splits an HL7 CX value: component 1 is the ID, component 4 the
// assigning authority, whose first sub-component (namespace) or second
// (universal ID) names the issuer.
func parseCX(s string) (id, issuer string) {
	comps := strings.Split(s, "^")
	id = comps[0]
	if len(comps) >= 4 {
		sub := strings.Split(comps[3], "&")
		issuer = sub[0]
		if issuer == "" && len(sub) > 1 {
			issuer = sub[1]
		}
	}
	return id, issuer
}

// isoDate turns the date part of an ISO 8601 date-time into YYYY-MM-DD.
func isoDate(s string) (string, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return "", false
	}
	d := s[:10]
	if strings.Trim(d[:4]+d[5:7]+d[8:], "0123456789") != "" {
		return "", false
	}
	return d, true
}

// validValue accepts text without control characters or backslashes (the
// DICOM value separator), at most max bytes.
func validValue(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\\' {
			return false
		}
	}
	return true
}

func badRequest(msg string) error { return echo.NewHTTPError(http.StatusBadRequest, msg) }
