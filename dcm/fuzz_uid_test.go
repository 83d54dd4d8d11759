package dcm

import (
	"strings"
	"testing"
)

// FuzzValidUID checks the UID validator against the rules it enforces:
// digits and dots, at most 64 characters, no empty component, no leading
// zero; nothing it accepts can climb out of a key or a path.
func FuzzValidUID(f *testing.F) {
	for _, s := range []string{"1.2.840.10008.1.2", "2.25.123", "../x", "1..2", "01.2", "1.2.", strings.Repeat("1", 65), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidUID(s) {
			return
		}
		if len(s) == 0 || len(s) > 64 || strings.Trim(s, "0123456789.") != "" || strings.Contains(s, "..") ||
			strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range strings.Split(s, ".") {
			if len(c) > 1 && c[0] == '0' {
				t.Fatalf("accepted leading zero in %q", s)
			}
		}
	})
}
