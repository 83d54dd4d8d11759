package index

import "strings"

// This file exposes the secondary keys of study rows (secondary.go) to
// other index backends, so that they hold exactly the keys Badger holds
// and order studies by the same order keys.

// KeysOf returns the secondary keys of a study row, each once, without
// its order key (OrderOf): the kinds and values ScanKey finds it by.
func KeysOf(st *Study) []Key {
	var out []Key
	for _, k := range secondaryKeys(st) {
		s := string(k)
		if strings.HasPrefix(s, prefixOrder) {
			continue
		}
		kind, rest, ok := strings.Cut(strings.TrimPrefix(s, prefixSecondary), "/")
		if !ok {
			continue
		}
		value, _, ok := strings.Cut(rest, "\x00")
		if !ok {
			continue
		}
		out = append(out, Key{Kind: Kind(kind), Value: value})
	}
	return out
}

// OrderFrom returns the order key at which ScanOrder(from) starts: every
// study whose order key sorts at or after it.
func OrderFrom(from string) string {
	b := make([]byte, len(from))
	for i := 0; i < len(from); i++ {
		b[i] = 255 - from[i]
	}
	return string(b)
}

// CursorOf returns the Cursor of an order key (OrderOf(st).Order).
func CursorOf(order string) Cursor {
	dt, uid := decodeOrder([]byte(order))
	return Cursor{UID: uid, Order: order, DateTime: dt}
}

// KeyFormat is the version of the secondary keys' layout (what KeysOf
// returns): another backend that stored keys under an older one rebuilds
// them, as Open upgrades a Badger index. It is keysVersion, not
// formatVersion: a new encoding of Badger's rows (format 6) changes no key.
func KeyFormat() string { return keysVersion }
