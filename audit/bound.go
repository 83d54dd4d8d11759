package audit

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Field bounds: an audited string longer than its bound is stored cut,
// with its original length, so that a client cannot make one request
// write a large event (a 200 KB path, a long X-Request-Id).
const (
	maxField  = 256  // ids, UIDs, actor, role, institution, source
	maxAction = 512  // method and route (or raw path of an unrouted request)
	maxDetail = 1024 // free text a handler adds
)

// bound returns e with every string field escaped and cut to its bound.
func bound(e Event) Event {
	for _, f := range []*string{&e.Actor, &e.Role, &e.Institution, &e.PersonKey, &e.Study, &e.Series, &e.Instance, &e.Source, &e.RequestID, &e.Key} {
		*f = clean(*f, maxField)
	}
	e.Action = clean(e.Action, maxAction)
	e.Detail = clean(e.Detail, maxDetail)
	return e
}

// clean escapes control characters and invalid UTF-8 as \xNN (so that an
// exported line or a terminal shows what was sent, and nothing can forge a
// line break), then cuts the result to at most limit bytes at a rune
// boundary, ending it with "…(N bytes)" where N is the original length.
func clean(s string, limit int) string {
	ok := len(s) <= limit
	for i := 0; ok && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			ok = false
		}
	}
	if ok {
		return s // the common case: short printable ASCII
	}
	var b strings.Builder
	suffix := fmt.Sprintf("…(%d bytes)", len(s))
	fit := 0 // length of b at the last piece boundary that leaves room for suffix
	for i := 0; i < len(s) && b.Len() <= limit; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
		if b.Len() <= limit-len(suffix) {
			fit = b.Len()
		}
	}
	if b.Len() <= limit && len(s) <= limit {
		return b.String()
	}
	return b.String()[:fit] + suffix
}
