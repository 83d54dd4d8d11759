package corpus

import (
	"math/big"
	"math/rand/v2"
)

// newUID returns "2.25." followed by the decimal form of a 128-bit random
// value shaped like a version 4 UUID (ITU-T X.667), drawn from r.
func newUID(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^0xf000 | 0x4000                       // version 4
	lo = lo&^(uint64(0xc0)<<56) | uint64(0x80)<<56 // RFC 4122 variant
	v := new(big.Int).SetUint64(hi)
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(lo))
	return "2.25." + v.String()
}

// ValidUID reports whether s is a syntactically valid DICOM UID: at most 64
// characters, components of digits separated by dots, no empty component and
// no leading zero in a multi-digit component.
func ValidUID(s string) bool {
	if s == "" || len(s) > 64 {
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
		comp := s[start:i]
		if comp == "" || (len(comp) > 1 && comp[0] == '0') {
			return false
		}
		start = i + 1
	}
	return true
}

// newRand returns the deterministic generator used for a given seed.
func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}
