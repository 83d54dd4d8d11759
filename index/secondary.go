package index

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/dgraph-io/badger/v4"

	"github.com/imgcloud/gateway/dcm"
)

// Secondary keys of study rows. Every study has one order key and, for each
// indexed attribute, one key per distinct value:
//
//	sx/d/{order}{uid}              the study list in QIDO order
//	sx/{kind}/{value}\x00{order}{uid}
//
// {order} is the study's StudyDate and StudyTime with every byte inverted
// (255-b) and a 0xFF terminator, so ascending key order is the QIDO order
// (newest first, then UID ascending) and a scan of one value's keys streams
// its studies in answer order: limit stops it early and nothing is sorted.
//
// The model maps onto SQL indexes one to one (issue 21): the order key is an
// index on (study_date DESC, study_time DESC, uid) of the studies table, and
// each kind is a table study_keys(kind, value, study_date, study_time, uid)
// with a primary key on (kind, value, study_date DESC, study_time DESC,
// uid); an exact scan is WHERE kind=? AND value=? ORDER BY date DESC, time
// DESC, uid LIMIT n, a prefix scan is value LIKE 'p%', and Estimate is a
// COUNT(*) with a LIMIT in a subquery.
const (
	prefixSecondary = "sx/"
	prefixOrder     = "sx/d/"
	keyFormat       = "meta/format"
	keyCounts       = "meta/counts"
	// formatVersion is the layout of the index: 2 added the secondary keys
	// and the stored counts, 3 the whole-name keys, 4 the holding keys, 5
	// the StudyDescription word keys, 6 binary study rows (rowbin.go). Open
	// upgrades an older index.
	formatVersion = "6"
	// keysVersion is the layout of the secondary keys (KeyFormat): the
	// formatVersion that last changed them.
	keysVersion = "5"
)

// Kind names a secondary index of study rows.
type Kind string

// The secondary indexes. Values are those of the study row's attribute as
// stored (PatientID "123" is found by "123" only), except person names:
// KindName holds each name case-folded, whole ("zhang^wei=张^伟"), per
// component group ("zhang^wei", "张^伟") and per word ("zhang", "wei",
// "张", "伟"), so that "zhang*", "张*" and fuzzy matching are prefix scans.
const (
	KindPatientID  Kind = "pid" // PatientID
	KindIssuer     Kind = "iss" // IssuerOfPatientID
	KindAccession  Kind = "acc" // AccessionNumber
	KindModality   Kind = "mod" // ModalitiesInStudy
	KindName       Kind = "pn"  // PatientName, case-folded
	KindReferring  Kind = "ref" // ReferringPhysicianName, case-folded
	KindInstitute  Kind = "ins" // InstitutionName
	KindStudyID    Kind = "sid" // StudyID
	KindBirthDate  Kind = "bd"  // PatientBirthDate
	KindPatientSex Kind = "sex" // PatientSex
	// KindHolding is the holding institution (Study.Holding). Every study
	// has exactly one such key, "" when no holder is recorded, so that
	// the keys of an institution and of "" together hold every study that
	// institution may hold.
	KindHolding Kind = "hold"
	// KindWord holds the pieces of StudyDescription words that
	// StudyDescription=*word* is found by (see descWords, WordProbes).
	KindWord Kind = "sdw"
)

// Whole returns the kind that holds only the whole case-folded names of a
// name kind (KindName, KindReferring): a wildcard without fuzzy matching
// matches the whole value, so its candidates come from these alone.
func Whole(k Kind) Kind { return k + "w" }

// kindTags are the study attributes behind each kind of key (KindModality
// is computed from the series).
var kindTags = []struct {
	kind Kind
	tag  string
	name bool
}{
	{KindPatientID, "00100020", false},
	{KindIssuer, "00100021", false},
	{KindAccession, "00080050", false},
	{KindName, "00100010", true},
	{KindReferring, "00080090", true},
	{KindInstitute, "00080080", false},
	{KindStudyID, "00200010", false},
	{KindBirthDate, "00100030", false},
	{KindPatientSex, "00100040", false},
}

// orderKey is the part of every secondary key that sorts a study into QIDO
// order (see above).
func orderKey(st *Study) []byte {
	dt := st.Attrs.String("00080020") + st.Attrs.String("00080030")
	b := make([]byte, 0, len(dt)+1+len(st.UID))
	for i := 0; i < len(dt); i++ {
		b = append(b, 255-dt[i])
	}
	b = append(b, 0xFF)
	return append(b, st.UID...)
}

// OrderDate returns the StudyDate and StudyTime an order key was made of.
func decodeOrder(ok []byte) (dateTime string, uid string) {
	i := bytes.IndexByte(ok, 0xFF)
	if i < 0 {
		return "", string(ok)
	}
	dt := make([]byte, i)
	for j := 0; j < i; j++ {
		dt[j] = 255 - ok[j]
	}
	return string(dt), string(ok[i+1:])
}

// FoldName is how KindName and KindReferring values are stored and must
// be looked up: lower case.
func FoldName(s string) string { return strings.ToLower(s) }

// wholeNames are the Whole(KindName) entries of a PN element.
func wholeNames(e *dcm.Element) []string {
	var out []string
	for _, v := range e.Value {
		if w := nameValues(&dcm.Element{Value: []any{v}}); len(w) > 0 {
			out = append(out, w[0])
		}
	}
	return out
}

// nameValues are the KindName entries of a PN element: whole, groups, words.
func nameValues(e *dcm.Element) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, v := range e.Value {
		var groups []string
		switch p := v.(type) {
		case dcm.PersonName:
			groups = []string{p.Alphabetic, p.Ideographic, p.Phonetic}
		case *dcm.PersonName:
			if p != nil {
				groups = []string{p.Alphabetic, p.Ideographic, p.Phonetic}
			}
		case map[string]any:
			groups = make([]string, 3)
			for i, k := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
				groups[i], _ = p[k].(string)
			}
		case string:
			groups = []string{p}
		}
		add(FoldName(strings.TrimRight(strings.Join(groups, "="), "=")))
		for _, g := range groups {
			g = FoldName(g)
			add(g)
			for _, w := range strings.FieldsFunc(g, func(r rune) bool { return r == '^' || r == ' ' || r == '=' }) {
				add(w)
			}
		}
	}
	return out
}

// secondaryKeys are every secondary key of a study row.
func secondaryKeys(st *Study) [][]byte {
	ok := orderKey(st)
	keys := [][]byte{append([]byte(prefixOrder), ok...)}
	add := func(kind Kind, vals []string) {
		seen := map[string]bool{}
		for _, v := range vals {
			if v == "" || seen[v] || strings.IndexByte(v, 0) >= 0 {
				continue
			}
			seen[v] = true
			k := make([]byte, 0, len(prefixSecondary)+len(kind)+len(v)+len(ok)+2)
			k = append(append(append(k, prefixSecondary...), kind...), '/')
			k = append(append(append(k, v...), 0), ok...)
			keys = append(keys, k)
		}
	}
	for _, kt := range kindTags {
		e := st.Attrs[kt.tag]
		if e == nil {
			continue
		}
		if kt.name {
			vals := nameValues(e)
			add(kt.kind, vals)
			add(Whole(kt.kind), wholeNames(e))
			continue
		}
		var vals []string
		for _, v := range e.Value {
			if s, ok := v.(string); ok {
				vals = append(vals, s)
			}
		}
		add(kt.kind, vals)
	}
	add(KindModality, st.Modalities)
	if e := st.Attrs["00081030"]; e != nil {
		add(KindWord, descWords(e))
	}
	if strings.IndexByte(st.Holding, 0) < 0 {
		keys = append(keys, append(valuePrefix(KindHolding, st.Holding, true), ok...))
	}
	return keys
}

// setSecondary replaces the secondary keys of old (nil for a new study)
// by those of st (nil for a removed study) in txn.
func setSecondary(txn *badger.Txn, old, st *Study) error {
	var oldKeys, newKeys [][]byte
	if old != nil {
		oldKeys = secondaryKeys(old)
	}
	if st != nil {
		newKeys = secondaryKeys(st)
	}
	for _, k := range oldKeys {
		if !slices.ContainsFunc(newKeys, func(n []byte) bool { return bytes.Equal(n, k) }) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, k := range newKeys {
		if !slices.ContainsFunc(oldKeys, func(o []byte) bool { return bytes.Equal(o, k) }) {
			if err := txn.Set(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cursor is one study found by a secondary key: its UID and the order key
// that places it in the QIDO order (compare Order values to merge cursors).
type Cursor struct {
	UID   string
	Order string
	// DateTime is the StudyDate and StudyTime the study is ordered by.
	DateTime string
}

func valuePrefix(kind Kind, value string, exact bool) []byte {
	p := []byte(prefixSecondary + string(kind) + "/" + value)
	if exact {
		p = append(p, 0)
	}
	return p
}

// ScanKey calls fn for each study with a key of kind equal to value
// (exact) or starting with it, until fn returns false. An exact scan
// streams the studies in QIDO order; a prefix scan in value order, then
// QIDO order (the caller sorts by Cursor.Order, and may see a study more
// than once).
func (db *DB) ScanKey(kind Kind, value string, exact bool, fn func(Cursor) bool) error {
	prefix := valuePrefix(kind, value, exact)
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			k := it.Item().Key()
			i := bytes.IndexByte(k[len(prefix):], 0)
			if i < 0 && !exact {
				continue
			}
			ok := k[len(prefix):]
			if !exact {
				ok = ok[i+1:]
			}
			dt, uid := decodeOrder(ok)
			if !fn(Cursor{UID: uid, Order: string(ok), DateTime: dt}) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan %s keys %q: %w", kind, value, err)
	}
	return nil
}

// ScanOrder calls fn for each study in QIDO order (newest StudyDate and
// StudyTime first, then UID), starting at the newest whose StudyDate and
// StudyTime do not sort after from (from "" starts at the newest of all),
// until fn returns false.
func (db *DB) ScanOrder(from string, fn func(Cursor) bool) error {
	prefix := []byte(prefixOrder)
	seek := append([]byte{}, prefix...)
	for i := 0; i < len(from); i++ {
		seek = append(seek, 255-from[i])
	}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			ok := it.Item().Key()[len(prefix):]
			dt, uid := decodeOrder(ok)
			if !fn(Cursor{UID: uid, Order: string(ok), DateTime: dt}) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan study order: %w", err)
	}
	return nil
}

// EstimateOrder counts the studies ScanOrder(from) visits down to the
// DateTime to ("": to the end), up to max.
func (db *DB) EstimateOrder(from, to string, max int) int {
	n := 0
	_ = db.ScanOrder(from, func(c Cursor) bool {
		if to != "" && c.DateTime < to {
			return false
		}
		n++
		return n < max
	})
	return n
}

// Estimate counts the keys ScanKey would visit, up to max: the planner's
// measure of how selective a key is.
func (db *DB) Estimate(kind Kind, value string, exact bool, max int) int {
	prefix := valuePrefix(kind, value, exact)
	n := 0
	_ = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix) && n < max; it.Next() {
			n++
		}
		return nil
	})
	return n
}

// OrderOf returns the Cursor of one study (to sort a list of UIDs into
// QIDO order).
func OrderOf(st *Study) Cursor {
	ok := orderKey(st)
	dt, _ := decodeOrder(ok)
	return Cursor{UID: st.UID, Order: string(ok), DateTime: dt}
}

// Probe is one value, or value prefix, of a kind of key.
type Probe struct {
	Value string
	Exact bool
}

// ScanMerged streams the studies with a key of kind matching any probe in
// QIDO order, each once. Few keys (up to collectMax: "wang" at 20,000
// studies) are read with one iterator and sorted by their order keys;
// more are merged with one cursor per distinct value (a prefix such as
// "zhang" covers a few dozen names, each of which streams in order), so
// that a limit stops early. It returns false, having called fn for
// nothing, when the probes cover more than maxValues distinct values (the
// caller plans otherwise).
func (db *DB) ScanMerged(kind Kind, probes []Probe, maxValues int, fn func(Cursor) bool) (bool, error) {
	base := prefixSecondary + string(kind) + "/"
	merged := true
	err := db.bdb.View(func(txn *badger.Txn) error {
		var values []string
		// Collected while there are few: cursor per value would cost a seek
		// in every table of the tree for a handful of keys each.
		var cs []Cursor
		collecting := true
		for _, p := range probes {
			prefix := []byte(base + p.Value)
			if p.Exact {
				prefix = append(prefix, 0)
			}
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			var last []byte
			for it.Seek(prefix); it.ValidForPrefix(prefix); {
				k := it.Item().Key()[len(base):]
				i := bytes.IndexByte(k, 0)
				if i < 0 {
					it.Next()
					continue
				}
				if !bytes.Equal(k[:i], last) {
					last = append(last[:0], k[:i]...)
					if v := string(last); !slices.Contains(values, v) {
						values = append(values, v)
					}
					if len(values) > maxValues {
						break
					}
				}
				if collecting && len(cs) < db.collect {
					dt, uid := decodeOrder(k[i+1:])
					cs = append(cs, Cursor{UID: uid, Order: string(k[i+1:]), DateTime: dt})
					it.Next()
					continue
				}
				collecting, cs = false, nil
				it.Seek([]byte(base + string(last) + "\x01")) // past every key of this value
			}
			it.Close()
			if len(values) > maxValues {
				merged = false
				return nil
			}
		}
		if collecting {
			slices.SortFunc(cs, func(a, b Cursor) int { return strings.Compare(a.Order, b.Order) })
			for i, c := range cs {
				if i > 0 && c.Order == cs[i-1].Order {
					continue // the same study under another value
				}
				if !fn(c) {
					return nil
				}
			}
			return nil
		}
		prefixes := make([][]byte, len(values))
		for i, v := range values {
			prefixes[i] = valuePrefix(kind, v, true)
		}
		return mergePrefixes(txn, prefixes, fn)
	})
	if err != nil {
		return false, fmt.Errorf("scan %s keys: %w", kind, err)
	}
	return merged, nil
}

// collectMax is how many keys ScanMerged sorts rather than merges.
const collectMax = 2048

// Key is one exact value of one kind of key.
type Key struct {
	Kind  Kind
	Value string
}

// ScanUnion streams the studies with any of keys in QIDO order, each
// once, by merging one cursor per key, until fn returns false.
func (db *DB) ScanUnion(keys []Key, fn func(Cursor) bool) error {
	err := db.bdb.View(func(txn *badger.Txn) error {
		prefixes := make([][]byte, len(keys))
		for i, k := range keys {
			prefixes[i] = valuePrefix(k.Kind, k.Value, true)
		}
		return mergePrefixes(txn, prefixes, fn)
	})
	if err != nil {
		return fmt.Errorf("scan keys: %w", err)
	}
	return nil
}

// mergePrefixes streams the studies under any of prefixes (keys whose
// rest is an order key) in QIDO order, each once, with one cursor per
// prefix, until fn returns false.
func mergePrefixes(txn *badger.Txn, prefixes [][]byte, fn func(Cursor) bool) error {
	type head struct {
		it     *badger.Iterator
		prefix []byte
	}
	heads := make([]head, 0, len(prefixes))
	defer func() {
		for _, h := range heads {
			h.it.Close()
		}
	}()
	for _, prefix := range prefixes {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		it.Seek(prefix)
		heads = append(heads, head{it, prefix})
	}
	last := ""
	for {
		best := -1
		var bestOK []byte
		for i, h := range heads {
			if !h.it.ValidForPrefix(h.prefix) {
				continue
			}
			ok := h.it.Item().Key()[len(h.prefix):]
			if best < 0 || bytes.Compare(ok, bestOK) < 0 {
				best, bestOK = i, ok
			}
		}
		if best < 0 {
			return nil
		}
		ok := string(bestOK)
		heads[best].it.Next()
		if ok == last {
			continue // the same study under another prefix
		}
		last = ok
		dt, uid := decodeOrder([]byte(ok))
		if !fn(Cursor{UID: uid, Order: ok, DateTime: dt}) {
			return nil
		}
	}
}

// StudyDescription words. A description is case-folded and cut into
// words: runs of letters and digits, a run of CJK characters (Han, kana,
// Hangul) being a word of its own ("胸部CT平扫" is 胸部, ct, 平扫). Each
// word is keyed at every position by the rest of the word from there, cut
// to wordRunes runes (cjkRunes for CJK: the character bigrams, and the
// last character alone): "contrast" gives cont, ontr, ntra, tras, rast,
// ast, st, t. Any run of letters and digits of a pattern lies inside one
// word of every value it matches, so the keys that start with its first
// runes hold every match: *ches*, *CHEST* and chest* are prefix scans of
// "ches", "ches" and "ches" (the matcher then decides, case and all).
const (
	wordRunes = 4
	cjkRunes  = 2
)

// isCJK reports whether r is written without spaces between words.
func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// words cuts folded text into words (see above).
func words(s string) [][]rune {
	var out [][]rune
	var cur []rune
	cjk := false
	for _, r := range strings.ToLower(s) {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !word || len(cur) > 0 && isCJK(r) != cjk {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		}
		if word {
			cur, cjk = append(cur, r), isCJK(r)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// piece is word w from position i, cut to its kind's length.
func piece(w []rune, i int) string {
	n := wordRunes
	if isCJK(w[0]) {
		n = cjkRunes
	}
	return string(w[i:min(len(w), i+n)])
}

// descWords are the KindWord values of a StudyDescription element.
func descWords(e *dcm.Element) []string {
	var out []string
	for _, v := range e.Value {
		s, _ := v.(string)
		for _, w := range words(s) {
			for i := range w {
				if p := piece(w, i); !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// WordProbes returns, for a StudyDescription pattern (wildcards * and ?),
// the KindWord prefixes of which any one holds every study the pattern
// matches (a prefix scan of one suffices; the longest is the most
// selective), or nil when the pattern has no letter or digit to look up.
func WordProbes(pattern string) []string {
	var out []string
	for _, lit := range strings.FieldsFunc(pattern, func(r rune) bool { return r == '*' || r == '?' }) {
		for _, w := range words(lit) {
			if p := piece(w, 0); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
