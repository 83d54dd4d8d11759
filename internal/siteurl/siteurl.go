// Package siteurl tells the root URL a client used to reach the gateway
// (scheme, host and any reverse-proxy prefix), for the absolute URLs the
// gateway writes into answers: RetrieveURL, BulkDataURI, share links.
package siteurl

import (
	"net/http"
	"strings"
)

// Root returns scheme://host[/prefix] for r. X-Forwarded-Proto, -Host and
// -Prefix are used only when trustForwarded is set (behind a reverse proxy
// the operator controls). A host or prefix with characters outside the
// safe sets is replaced, so a forged header can never inject into JSON,
// HTML or URLs.
func Root(r *http.Request, trustForwarded bool) string {
	scheme, host, prefix := "http", r.Host, ""
	if r.TLS != nil {
		scheme = "https"
	}
	if trustForwarded {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = strings.TrimSpace(strings.Split(fh, ",")[0])
		}
		if p := strings.Trim(r.Header.Get("X-Forwarded-Prefix"), "/"); p != "" && safePath(p) {
			prefix = "/" + p
		}
	}
	if !safeHost(host) {
		host = "localhost"
	}
	return scheme + "://" + host + prefix
}

// safeHost accepts host[:port] made of DNS and IP-literal characters only.
func safeHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == ':', r == '[', r == ']':
		default:
			return false
		}
	}
	return true
}

// safePath accepts a path prefix of URL-safe characters without "..".
func safePath(p string) bool {
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '/':
		default:
			return false
		}
	}
	return !strings.Contains(p, "..")
}
