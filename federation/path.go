package federation

import (
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// CheckRetrievePath validates the part of a proxied URL below
// /peers/{peer}: a WADO-RS or QIDO-RS path inside one study, with every
// UID checked, so that only DICOMweb resources of the peer can be reached
// through this gateway. It returns the path rebuilt from the checked
// segments.
//
//	/studies/{s}[/series/{se}[/instances/{i}]]         instances
//	.../metadata, .../rendered, .../thumbnail           at each of those levels
//	/studies/{s}/series/{se}/instances/{i}/frames/{1,3} frames
//	/studies/{s}/series/{se}/instances/{i}/bulkdata/... bulk data (tag path)
//	/studies/{s}/series, /studies/{s}/instances,
//	/studies/{s}/series/{se}/instances                  searches inside a study
func CheckRetrievePath(p string) (string, error) {
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: path %q: %s", ErrBadPath, truncate(p, 120), why)
	}
	if len(seg) < 2 || seg[0] != "studies" {
		return bad("must start with /studies/{study}")
	}
	levels := []string{"studies", "series", "instances"}
	i, depth := 0, 0
	for i < len(seg) && depth < len(levels) && seg[i] == levels[depth] {
		if i+1 >= len(seg) {
			if depth == 0 {
				return bad("no study UID")
			}
			// A search one level down (".../series", ".../instances").
			return "/" + strings.Join(seg, "/"), nil
		}
		if !dcm.ValidUID(seg[i+1]) {
			return bad("invalid UID")
		}
		i, depth = i+2, depth+1
	}
	if i == len(seg) {
		return "/" + strings.Join(seg, "/"), nil
	}
	rest := seg[i:]
	switch rest[0] {
	case "metadata", "rendered", "thumbnail":
		if len(rest) == 1 {
			return "/" + strings.Join(seg, "/"), nil
		}
	case "instances":
		// /studies/{s}/instances: a search of the study's instances.
		if depth == 1 && len(rest) == 1 {
			return "/" + strings.Join(seg, "/"), nil
		}
	case "frames":
		if depth == 3 && len(rest) >= 2 && len(rest) <= 3 && frameList(rest[1]) && (len(rest) == 2 || rest[2] == "rendered") {
			return "/" + strings.Join(seg, "/"), nil
		}
	case "bulkdata":
		if depth == 3 && len(rest) >= 2 && len(rest) <= 16 {
			for _, t := range rest[1:] {
				if t == "" || len(t) > 8 || strings.Trim(strings.ToUpper(t), "0123456789ABCDEF") != "" {
					return bad("bulk data path must be tags and item numbers")
				}
			}
			return "/" + strings.Join(seg, "/"), nil
		}
	}
	return bad("not a DICOMweb resource of a study")
}

// frameList accepts "1", "1,3,5" (at most 64 frames).
func frameList(s string) bool {
	parts := strings.Split(s, ",")
	if len(parts) > 64 {
		return false
	}
	for _, f := range parts {
		if f == "" || len(f) > 6 || strings.Trim(f, "0123456789") != "" {
			return false
		}
	}
	return true
}
