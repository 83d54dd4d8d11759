package storage

import (
	"fmt"
	"strings"
)

// Object layout, readable by a person browsing the bucket or folder:
//
//	studies/{study}/series/{series}/instances/{sop}.dcm   DICOM Part 10 files as stored
//	records/{kind}/{id}.json                              domain records (institutions, consents, ...)
//	cache/{...}                                           derived objects that may be deleted at will
//
// UIDs are validated (digits and dots) before they reach these functions.

// InstanceKey is the key of one stored DICOM instance.
func InstanceKey(study, series, sop string) string {
	return fmt.Sprintf("studies/%s/series/%s/instances/%s.dcm", study, series, sop)
}

// StudiesPrefix is the prefix under which all instances live.
const StudiesPrefix = "studies/"

// RecordKey is the key of one domain record.
func RecordKey(kind, id string) string { return "records/" + kind + "/" + id + ".json" }

// ValidKey reports whether key is safe as a file path and an S3 key: no
// empty, "." or ".." segments, no leading slash, only [A-Za-z0-9._-/].
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '/':
		default:
			return false
		}
	}
	return true
}
