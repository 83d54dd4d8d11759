package dcm

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
