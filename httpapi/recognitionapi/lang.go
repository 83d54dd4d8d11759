package recognitionapi

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/recognition"
)

// lang picks the language of the texts in an answer from Accept-Language
// (RFC 9110 §12.5.4): the zh or en range of highest quality, Chinese when
// the header names neither. It marks the answer as varying by the header.
func lang(c echo.Context) recognition.Lang {
	h := c.Response().Header()
	h.Add("Vary", "Accept-Language")
	l := parseLang(c.Request().Header.Get("Accept-Language"))
	h.Set("Content-Language", string(l))
	return l
}

// parseLang is lang without the echo context.
func parseLang(header string) recognition.Lang {
	best, bestQ := recognition.LangZH, -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		var l recognition.Lang
		switch primary {
		case "zh":
			l = recognition.LangZH
		case "en":
			l = recognition.LangEN
		default:
			continue
		}
		if q > 0 && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}
