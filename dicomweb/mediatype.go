package dicomweb

import (
	"fmt"
	"strings"
)

// parseMediaType reads a media type with its parameters as RFC 9110 8.3.1
// has them: names case-insensitive, values tokens or quoted strings alike.
// It is lenient where clients are known to stray: OHIF v3's default sends
// `multipart/related; type=application/octet-stream; transfer-syntax=*`,
// whose unquoted "/" mime.ParseMediaType refuses (RFC 2045 tokens exclude
// it), so an unquoted value runs to the next ";" here. A parameter
// without "=" is skipped; a repeated one keeps its first value.
func parseMediaType(s string) (string, map[string]string, error) {
	parts := splitOutsideQuotes(s, ';')
	typ := strings.ToLower(strings.TrimSpace(parts[0]))
	main, sub, ok := strings.Cut(typ, "/")
	if !ok || main == "" || sub == "" || strings.ContainsAny(typ, " \t\"") {
		return "", nil, fmt.Errorf("media type %q is not type/subtype", strings.TrimSpace(parts[0]))
	}
	params := map[string]string{}
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			value = unquote(value)
		}
		if _, seen := params[name]; !seen {
			params[name] = value
		}
	}
	return typ, params, nil
}

// unquote reads an RFC 9110 quoted-string (backslash escapes one
// character); an unterminated one runs to the end.
func unquote(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
