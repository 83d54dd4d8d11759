package dcm

import "strings"

// decodeDataSet turns what the scanner recorded into a Dataset.
func decodeDataSet(res *scanResult, sy syntax) (Dataset, error) {
	c := &converter{own: res.own, order: sy.order(), big: sy.big}
	return c.dataSet("", defaultText)
}

// splitBackslash splits a decoded multi-valued string.
func splitBackslash(s string) []string { return strings.Split(s, `\`) }
