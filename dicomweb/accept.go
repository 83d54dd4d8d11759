package dicomweb

import (
	"sort"
	"strconv"
	"strings"
)

// mediaRange is one entry of an Accept header. For multipart/related the
// interesting parts are the type= and transfer-syntax= parameters.
type mediaRange struct {
	typ    string // e.g. "multipart/related", "application/dicom+json", "*/*"
	params map[string]string
	q      float64
}

// parseAccept splits an Accept header into media ranges, best first. Commas
// inside quoted parameters (type="application/dicom; transfer-syntax=*")
// do not split. An empty header means */*.
func parseAccept(h string) []mediaRange {
	if strings.TrimSpace(h) == "" {
		return []mediaRange{{typ: "*/*", params: map[string]string{}, q: 1}}
	}
	var out []mediaRange
	for _, part := range splitOutsideQuotes(h, ',') {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		typ, params, err := parseMediaType(part)
		if err != nil {
			continue // not a media range: the others may still be met
		}
		mr := mediaRange{typ: typ, params: params, q: 1}
		if qs, ok := params["q"]; ok {
			if q, err := strconv.ParseFloat(qs, 64); err == nil {
				mr.q = q
			}
		}
		// Orthanc-style: type="application/octet-stream; transfer-syntax=*".
		if t, ok := params["type"]; ok && strings.Contains(t, ";") {
			inner, innerParams, err := parseMediaType(t)
			if err == nil {
				params["type"] = inner
				if ts, ok := innerParams["transfer-syntax"]; ok {
					params["transfer-syntax"] = ts
				}
			}
		}
		if mr.q > 0 {
			out = append(out, mr)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
	return out
}

func splitOutsideQuotes(s string, sep rune) []string {
	var out []string
	inQ := false
	start := 0
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case r == sep && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// wantsJSON reports whether the Accept header allows a DICOM JSON answer.
func wantsJSON(accept string) bool {
	for _, m := range parseAccept(accept) {
		switch m.typ {
		case "application/dicom+json", "application/json", "*/*", "application/*":
			return true
		}
	}
	return false
}
