package archive

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imgcloud/gateway/dcm"
)

// matcher tests one attribute of a row. get returns nil when the row does
// not have the attribute; a missing attribute never matches a non-empty key.
type matcher func(get func(tag string) *dcm.Element) bool

// compile turns one query key into a matcher (PS3.4 C.2.2.2 and PS3.18
// 8.3.4): UID lists, wildcards, date/time ranges, case-insensitive person
// names, and fuzzy person-name matching when asked for. It returns nil for
// universal matching (an empty value).
func compile(tag, vr, value string, fuzzy bool) (matcher, error) {
	// A value of "*" alone matches any value, a zero-length one included
	// (PS3.4 C.2.2.2.4): it is universal matching, not a filter.
	if value == "" || strings.Trim(value, "*") == "" && vr != "UI" && vr != "DA" && vr != "TM" && vr != "DT" {
		return nil, nil
	}
	var test func(v any) bool
	switch vr {
	case "UI":
		set := map[string]bool{}
		for _, u := range splitList(value) {
			if !dcm.ValidUID(u) {
				return nil, invalid(keyword(tag), "%q is not a valid UID (digits and dots, at most 64 characters)", u)
			}
			set[u] = true
		}
		test = func(v any) bool { s, _ := v.(string); return set[s] }
	case "DA", "TM", "DT":
		r, err := parseRange(vr, value)
		if err != nil {
			return nil, invalid(keyword(tag), "%v", err)
		}
		test = func(v any) bool { s, _ := v.(string); return r.contains(s) }
	case "PN":
		// Wildcards match the whole value ("alpha=ideo=phon"), ignoring case,
		// as PS3.4 matches any other string: "张*" finds "张伟", not
		// "Zhang^Wei=张^伟". A value without wildcards may also equal one
		// component group. fuzzymatching=true matches any group or word by
		// prefix, which is what a person typing a name expects.
		pat := strings.ToLower(value)
		wild := strings.ContainsAny(pat, "*?")
		test = func(v any) bool {
			groups := pnGroups(v)
			whole := strings.ToLower(strings.TrimRight(strings.Join(groups, "="), "="))
			if wild && glob(pat, whole) || whole == pat {
				return true
			}
			for _, g := range groups {
				if g == "" {
					continue
				}
				g = strings.ToLower(g)
				if !wild && g == pat || fuzzy && (glob(pat, g) || fuzzyName(strings.Trim(pat, "*"), g)) {
					return true
				}
			}
			return false
		}
	case "IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV":
		want, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, invalid(keyword(tag), "%q is not a number", value)
		}
		test = func(v any) bool { f, ok := toFloat(v); return ok && f == want }
	case "SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN":
		return nil, invalid(keyword(tag), "matching on %s values is not supported", vr)
	default:
		alts := []string{value}
		if vr == "CS" && strings.Contains(value, ",") {
			alts = splitList(value)
		}
		test = func(v any) bool {
			s, ok := v.(string)
			if !ok {
				return false
			}
			for _, a := range alts {
				if strings.ContainsAny(a, "*?") && glob(a, s) || a == s {
					return true
				}
			}
			return false
		}
	}
	return func(get func(string) *dcm.Element) bool {
		e := get(tag)
		if e == nil {
			return false
		}
		for _, v := range e.Value {
			if test(v) {
				return true
			}
		}
		return false
	}, nil
}

// pnGroups returns the alphabetic, ideographic and phonetic groups of a
// PN value in the forms rows hold it.
func pnGroups(v any) []string {
	switch p := v.(type) {
	case dcm.PersonName:
		return []string{p.Alphabetic, p.Ideographic, p.Phonetic}
	case map[string]any:
		groups := make([]string, 3)
		for i, k := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
			groups[i], _ = p[k].(string)
		}
		return groups
	case string:
		return []string{p}
	}
	return nil
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' })
}

// fuzzyName matches when pat starts the whole name or any of its words
// (split on ^, space and '='), ignoring case: "zhang" finds "Zhang^Wei",
// "wei" finds it too, and "张" finds "张伟".
func fuzzyName(pat, name string) bool {
	if pat == "" {
		return false
	}
	if strings.HasPrefix(name, pat) {
		return true
	}
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return r == '^' || r == ' ' || r == '=' }) {
		if strings.HasPrefix(w, pat) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern of * (any run) and ? (one character),
// rune by rune, in linear time with one backtrack point.
func glob(pat, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			c, pw := utf8.DecodeRuneInString(pat[px:])
			switch c {
			case '*':
				nextPx, nextSx = px, sx
				px += pw
				continue
			case '?':
				if sx < len(s) {
					_, sw := utf8.DecodeRuneInString(s[sx:])
					px += pw
					sx += sw
					continue
				}
			default:
				if sx < len(s) {
					r, sw := utf8.DecodeRuneInString(s[sx:])
					if r == c {
						px += pw
						sx += sw
						continue
					}
				}
			}
		}
		if nextSx >= 0 && nextSx < len(s) {
			_, sw := utf8.DecodeRuneInString(s[nextSx:])
			px, sx = nextPx, nextSx+sw
			nextSx = sx
			continue
		}
		return false
	}
	return true
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

// dateRange is an inclusive range of DA, TM or DT strings, compared after
// normalisation to a fixed-width form; an open end is "".
type dateRange struct {
	vr       string
	lo, hi   string
	hasRange bool
}

func parseRange(vr, v string) (dateRange, error) {
	r := dateRange{vr: vr}
	lo, hi, isRange := strings.Cut(v, "-")
	if vr == "DT" {
		// DT values may carry a "-hhmm" UTC offset; only a range if the
		// dash separates two parts of plausible length.
		lo, hi, isRange = cutDTRange(v)
	}
	if !isRange {
		n, err := normTime(vr, v, false)
		if err != nil {
			return r, err
		}
		hiN, _ := normTime(vr, v, true)
		r.lo, r.hi, r.hasRange = n, hiN, true
		return r, nil
	}
	if lo == "" && hi == "" {
		return r, errorString("a range needs at least one end, as in 20240101-20241231")
	}
	var err error
	if lo != "" {
		if r.lo, err = normTime(vr, lo, false); err != nil {
			return r, err
		}
	}
	if hi != "" {
		if r.hi, err = normTime(vr, hi, true); err != nil {
			return r, err
		}
	}
	r.hasRange = true
	return r, nil
}

func cutDTRange(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '-' && (i == 0 || i >= 4) && (i == len(v)-1 || len(v)-i-1 >= 4) {
			// A trailing "-hhmm" offset of length 4 after a long DT is
			// ambiguous; DICOM QIDO ranges use full values on both sides.
			return v[:i], v[i+1:], true
		}
	}
	return v, "", false
}

type errorString string

func (e errorString) Error() string { return string(e) }

// normTime checks a DA (YYYYMMDD), TM (HH[MM[SS[.F]]]) or DT value and pads
// it to a comparable width: low ends pad with zeros, high ends with nines.
func normTime(vr, v string, high bool) (string, error) {
	v = strings.ReplaceAll(v, ":", "") // tolerate ACR-NEMA style times
	digitsOnly := func(s string) bool {
		for _, c := range s {
			if (c < '0' || c > '9') && c != '.' {
				return false
			}
		}
		return s != ""
	}
	switch vr {
	case "DA":
		if len(v) != 8 || !digitsOnly(v) || strings.Contains(v, ".") {
			return "", errorString("date " + strconv.Quote(v) + " is not YYYYMMDD")
		}
		m, _ := strconv.Atoi(v[4:6])
		d, _ := strconv.Atoi(v[6:8])
		if m < 1 || m > 12 || d < 1 || d > 31 {
			return "", errorString("date " + strconv.Quote(v) + " is not a calendar date")
		}
		return v, nil
	case "TM":
		if !digitsOnly(v) || len(v) < 2 {
			return "", errorString("time " + strconv.Quote(v) + " is not HHMMSS")
		}
		whole, frac, _ := strings.Cut(v, ".")
		if len(whole) > 6 || len(whole)%2 == 1 {
			return "", errorString("time " + strconv.Quote(v) + " is not HHMMSS")
		}
		return padTime(whole, frac, 6, high), nil
	default: // DT
		if !digitsOnly(strings.TrimLeft(v, "+")) || len(v) < 4 {
			return "", errorString("date-time " + strconv.Quote(v) + " is not YYYYMMDDHHMMSS")
		}
		whole, frac, _ := strings.Cut(v, ".")
		return padTime(whole, frac, 14, high), nil
	}
}

func padTime(whole, frac string, width int, high bool) string {
	pad := "0"
	if high {
		pad = "9"
	}
	if len(whole) < width {
		whole += strings.Repeat(pad, width-len(whole))
	}
	if len(frac) < 6 {
		frac += strings.Repeat(pad, 6-len(frac))
	}
	return whole + "." + frac
}

func (r dateRange) contains(v string) bool {
	if v == "" {
		return false
	}
	lo, err1 := normTime(r.vr, v, false)
	hi, err2 := normTime(r.vr, v, true)
	if err1 != nil || err2 != nil {
		return false
	}
	if r.lo != "" && hi < r.lo {
		return false
	}
	if r.hi != "" && lo > r.hi {
		return false
	}
	return true
}

func keyword(tag string) string {
	if kw := dcm.KeywordForTag(tag); kw != "" {
		return kw
	}
	return tag
}
