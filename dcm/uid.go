package dcm

import (
	"strconv"
	"strings"
)

// ValidUID reports whether s is a valid DICOM UID (PS3.5 9.1): 1 to 64
// characters, dot-separated components of digits, none empty and none
// with a leading zero unless it is "0" itself.
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
			continue
		}
		// s[start:i] is one component.
		if i == start || (s[start] == '0' && i-start > 1) {
			return false
		}
		start = i + 1
	}
	return true
}

// IsVideo reports whether a transfer syntax holds a video stream: MPEG-2
// (1.2.840.10008.1.2.4.100-.101), MPEG-4 AVC/H.264 (.102-.106) or HEVC/H.265
// (.107-.108), their fragmentable variants (.100.1-.106.1) included. Such
// pixel data is one stream for all its frames (PS3.5 8.2.5-8.2.8).
func IsVideo(ts string) bool {
	base, frag := ts, ""
	if i := strings.LastIndexByte(ts, '.'); i > 0 && strings.Count(ts, ".") == 8 {
		base, frag = ts[:i], ts[i+1:]
	}
	if frag != "" && frag != "1" {
		return false
	}
	n, ok := strings.CutPrefix(base, "1.2.840.10008.1.2.4.")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(n)
	return err == nil && v >= 100 && v <= 108 && (frag == "" || v <= 106)
}

// VideoMedia is the media type of a video transfer syntax (PS3.18 8.7.3):
// video/mpeg for MPEG-2, video/mp4 for H.264 and HEVC; "" for others.
func VideoMedia(ts string) string {
	if !IsVideo(ts) {
		return ""
	}
	if strings.HasPrefix(ts, "1.2.840.10008.1.2.4.100") || strings.HasPrefix(ts, "1.2.840.10008.1.2.4.101") {
		return "video/mpeg"
	}
	return "video/mp4"
}
