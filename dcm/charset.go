package dcm

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Text is decoded here rather than by the DICOM library, which applies
// (0008,0005) SpecificCharacterSet only at the top level, with a few wrong
// mappings, without ISO 2022 code extensions, and splits values on
// backslashes before decoding (which breaks GBK and GB18030 text).

// textDecoder turns text in a DICOM character set into UTF-8.
type textDecoder struct {
	mode int
	enc  encoding.Encoding // modeSingle
	// ISO 2022: the sets designated at the start of each value.
	g0, g1 codeSet
	// fallback decodes the values whose bytes do not fit this character
	// set (the sender's default, see Limits.DefaultCharset); nil: none.
	fallback *textDecoder
	// log counts what was done, for Header.Decoding; nil for the shared
	// defaultText.
	log *decodeLog
	// sender is true for the sender's default (Limits.DefaultCharset).
	sender bool
}

const (
	modeDefault = iota // no character set named: UTF-8 when valid, else Latin-1
	modeUTF8
	modeSingle
	modeISO2022
)

var defaultText = &textDecoder{mode: modeDefault}

// codeSet is a graphic character set ISO 2022 can designate.
type codeSet int

const (
	setNone codeSet = iota
	setASCII
	setJISRoman // JIS X 0201 Romaji (G0)
	setJIS0208  // JIS X 0208 kanji (G0, two bytes)
	setJIS0212  // JIS X 0212 supplementary kanji (G0, two bytes)
	setKatakana // JIS X 0201 katakana (G1)
	setKSC5601  // KS X 1001 (G1, two bytes)
	setGB2312   // GB 2312 (G1, two bytes)
	// Upper halves of ISO 8859 parts and TIS 620 (G1, one byte).
	setLatin1
	setLatin2
	setLatin3
	setLatin4
	setCyrillic
	setArabic
	setGreek
	setHebrew
	setLatin5
	setThai
	setLatin9
)

// upperHalf is the charmap of each single-byte G1 set.
var upperHalf = map[codeSet]*charmap.Charmap{
	setLatin1: charmap.ISO8859_1, setLatin2: charmap.ISO8859_2,
	setLatin3: charmap.ISO8859_3, setLatin4: charmap.ISO8859_4,
	setCyrillic: charmap.ISO8859_5, setArabic: charmap.ISO8859_6,
	setGreek: charmap.ISO8859_7, setHebrew: charmap.ISO8859_8,
	setLatin5: charmap.ISO8859_9, setThai: charmap.Windows874,
	setLatin9: charmap.ISO8859_15,
}

// singleByte maps the defined terms without code extensions.
var singleByte = map[string]encoding.Encoding{
	"ISO_IR 100": charmap.ISO8859_1, "ISO_IR 101": charmap.ISO8859_2,
	"ISO_IR 109": charmap.ISO8859_3, "ISO_IR 110": charmap.ISO8859_4,
	"ISO_IR 144": charmap.ISO8859_5, "ISO_IR 127": charmap.ISO8859_6,
	"ISO_IR 126": charmap.ISO8859_7, "ISO_IR 138": charmap.ISO8859_8,
	"ISO_IR 148": charmap.ISO8859_9, "ISO_IR 203": charmap.ISO8859_15,
	"ISO_IR 166": charmap.Windows874, "ISO_IR 13": japanese.ShiftJIS,
	"GB18030": simplifiedchinese.GB18030, "GBK": simplifiedchinese.GBK,
}

// iso2022Terms maps "ISO 2022 IR nnn" defined terms to the sets they
// designate initially.
var iso2022Terms = map[string][2]codeSet{ // {G0, G1}
	"ISO 2022 IR 6":   {setASCII, setNone},
	"ISO 2022 IR 100": {setASCII, setLatin1},
	"ISO 2022 IR 101": {setASCII, setLatin2},
	"ISO 2022 IR 109": {setASCII, setLatin3},
	"ISO 2022 IR 110": {setASCII, setLatin4},
	"ISO 2022 IR 144": {setASCII, setCyrillic},
	"ISO 2022 IR 127": {setASCII, setArabic},
	"ISO 2022 IR 126": {setASCII, setGreek},
	"ISO 2022 IR 138": {setASCII, setHebrew},
	"ISO 2022 IR 148": {setASCII, setLatin5},
	"ISO 2022 IR 203": {setASCII, setLatin9},
	"ISO 2022 IR 166": {setASCII, setThai},
	"ISO 2022 IR 13":  {setJISRoman, setKatakana},
	"ISO 2022 IR 87":  {setJIS0208, setNone},
	"ISO 2022 IR 159": {setJIS0212, setNone},
	"ISO 2022 IR 149": {setASCII, setKSC5601},
	"ISO 2022 IR 58":  {setASCII, setGB2312},
}

// escapes maps ISO 2022 escape sequences (without ESC) to the set they
// designate, and whether it goes to G1.
var escapes = map[string]struct {
	set codeSet
	g1  bool
}{
	"(B": {setASCII, false}, "(J": {setJISRoman, false},
	"$B": {setJIS0208, false}, "$(D": {setJIS0212, false},
	")I": {setKatakana, true}, "$)C": {setKSC5601, true}, "$)A": {setGB2312, true},
	"-A": {setLatin1, true}, "-B": {setLatin2, true}, "-C": {setLatin3, true},
	"-D": {setLatin4, true}, "-L": {setCyrillic, true}, "-G": {setArabic, true},
	"-F": {setGreek, true}, "-H": {setHebrew, true}, "-M": {setLatin5, true},
	"-T": {setThai, true}, "-b": {setLatin9, true},
}

// decodeLog counts, for one file, the non-ASCII values read each way.
type decodeLog struct {
	asDeclared, defaulted, fellBack, guessedUTF8, guessedLatin1 int
}

// NormalizeCharset returns the DICOM defined term for a character set
// name as modalities write it: stray spaces and lower case are accepted,
// and so are common non-standard names ("GB2312", "ISO-2022-GBK",
// "UTF-8", "ISO_IR100"). It returns "" when the name is not one the
// package can decode.
func NormalizeCharset(name string) string {
	if _, ok := singleByte[name]; ok || name == "" || name == "ISO_IR 192" {
		return name // the common case, without allocating
	}
	t := strings.ToUpper(strings.Join(strings.Fields(name), " "))
	if a, ok := charsetAliases[squash(t)]; ok {
		return a
	}
	if t == "" || t == "ISO_IR 6" || t == "ISO_IR 192" || singleByte[t] != nil {
		return t
	}
	if _, ok := iso2022Terms[t]; ok {
		return t
	}
	return ""
}

// squash removes spaces, '_' and '-' from s.
func squash(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '_' && c != '-' {
			b = append(b, c)
		}
	}
	return string(b)
}

// charsetAliases maps names without spaces, '_' or '-' to defined terms.
var charsetAliases = func() map[string]string {
	m := map[string]string{
		"GB2312": "GB18030", "EUCCN": "GB18030", "CP936": "GBK", "WINDOWS936": "GBK",
		"ISO2022GBK": "GBK", "ISO2022GB18030": "GB18030",
		"UTF8": "ISO_IR 192", "ISOIR192": "ISO_IR 192",
		"ISO88591": "ISO_IR 100", "LATIN1": "ISO_IR 100",
		"SHIFTJIS": "ISO_IR 13", "SJIS": "ISO_IR 13",
	}
	for t := range singleByte {
		m[squash(t)] = t
	}
	for t := range iso2022Terms {
		m[squash(t)] = t
	}
	return m
}()

// newTextDecoder returns the decoder for the values of a
// SpecificCharacterSet. Terms are normalised (NormalizeCharset); unknown
// terms fall back to the default. fallback (may be nil) decodes values
// whose bytes do not fit; log (may be nil) counts what was done.
func newTextDecoder(terms []string, fallback *textDecoder, log *decodeLog) *textDecoder {
	norm := make([]string, len(terms))
	for i, t := range terms {
		norm[i] = NormalizeCharset(t)
	}
	d := charsetDecoder(norm)
	if d == defaultText {
		if fallback != nil {
			return fallback // nothing usable named: the sender's default
		}
		if log == nil {
			return d
		}
	}
	out := *d
	out.fallback, out.log = fallback, log
	if fallback != nil && fallback.mode == d.mode && fallback.enc == d.enc {
		out.fallback = nil
	}
	return &out
}

// charsetDecoder is the decoder of normalised terms, without fallback.
func charsetDecoder(terms []string) *textDecoder {
	if len(terms) == 0 || (len(terms) == 1 && (terms[0] == "" || terms[0] == "ISO_IR 6")) {
		return defaultText
	}
	extended := len(terms) > 1
	for _, t := range terms {
		if strings.HasPrefix(t, "ISO 2022") {
			extended = true
		}
	}
	if !extended {
		switch t := terms[0]; {
		case t == "ISO_IR 192":
			return &textDecoder{mode: modeUTF8}
		case singleByte[t] != nil:
			return &textDecoder{mode: modeSingle, enc: singleByte[t]}
		}
		return defaultText
	}
	d := &textDecoder{mode: modeISO2022, g0: setASCII}
	if sets, ok := iso2022Terms[strings.Replace(terms[0], "ISO_IR", "ISO 2022 IR", 1)]; ok {
		d.g0, d.g1 = sets[0], sets[1]
	}
	return d
}

// multiByteCJK reports whether d decodes a Chinese multi-byte set.
func (d *textDecoder) multiByteCJK() bool {
	return d.mode == modeSingle && (d.enc == simplifiedchinese.GB18030 || d.enc == simplifiedchinese.GBK)
}

// decode converts s to UTF-8.
func (d *textDecoder) decode(s string) string {
	// Most values (UIDs, codes, numbers, Latin names) are plain ASCII,
	// which reads the same in every character set DICOM allows, unless
	// ISO 2022 starts in a JIS set.
	if plainASCII(s) && (d.mode != modeISO2022 || d.g0 == setASCII) {
		return s
	}
	if d.fallback != nil && !d.fits(s) {
		if d.log != nil {
			d.log.fellBack++
		}
		return d.fallback.decodeOwn(s)
	}
	if d.sender && d.mode != modeUTF8 && utf8.ValidString(s) && (!d.multiByteCJK() || !gbShaped(s)) {
		// Unlabelled UTF-8 from a sender whose default is another set.
		// GB 2312 text is seldom valid UTF-8, and UTF-8 Chinese seldom
		// looks like GB 2312 (its continuation bytes are often below
		// 0xA1), while GB18030 accepts most byte strings: UTF-8 first.
		if d.log != nil {
			d.log.guessedUTF8++
		}
		return s
	}
	if d.log != nil && d.mode != modeDefault {
		if d.sender {
			d.log.defaulted++
		} else {
			d.log.asDeclared++
		}
	}
	return d.decodeOwn(s)
}

// fits reports whether the bytes of s are text in d's character set, as
// far as can be told: valid UTF-8, valid multi-byte sequences, and, for a
// single-byte Latin set when the fallback is Chinese, not text shaped like
// GB 2312 (pairs of bytes 0xA1-0xFE), which GBK modalities write under
// ISO_IR 100.
func (d *textDecoder) fits(s string) bool {
	switch d.mode {
	case modeDefault:
		return false // nothing named: the sender's default applies
	case modeUTF8:
		return utf8.ValidString(s)
	case modeSingle:
		if d.multiByteCJK() || d.enc == japanese.ShiftJIS {
			out, err := d.enc.NewDecoder().String(s)
			return err == nil && !strings.ContainsRune(out, utf8.RuneError)
		}
		return d.fallback == nil || !d.fallback.multiByteCJK() || !gbShaped(s)
	}
	return true
}

// gbShaped reports whether every run of bytes >= 0x80 in s is an even
// number of bytes 0xA1-0xFE: GB 2312 (EUC-CN) text. Latin-1 names
// ("Müller", "Renée") have single high bytes next to ASCII letters.
func gbShaped(s string) bool {
	run, high := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= 0x80 {
			if s[i] < 0xA1 || s[i] == 0xFF {
				return false
			}
			run++
			high++
			continue
		}
		if run%2 == 1 {
			return false
		}
		run = 0
	}
	return high > 0
}

// decodeOwn converts s to UTF-8 in d's own character set.
func (d *textDecoder) decodeOwn(s string) string {
	switch d.mode {
	case modeUTF8:
		return strings.ToValidUTF8(s, "\uFFFD")
	case modeSingle:
		if out, err := d.enc.NewDecoder().String(s); err == nil {
			return strings.ToValidUTF8(out, "\uFFFD")
		}
		return latin1(s)
	case modeISO2022:
		return d.decodeISO2022(s)
	}
	if utf8.ValidString(s) {
		if d.log != nil {
			d.log.guessedUTF8++
		}
		return s
	}
	if d.log != nil {
		d.log.guessedLatin1++
	}
	return latin1(s)
}

// plainASCII reports whether s has only 7-bit bytes and no escape (ESC
// starts ISO 2022 code extensions).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == 0x1B {
			return false
		}
	}
	return true
}

func latin1(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// decodeISO2022 decodes text with ISO 2022 escape sequences (PS3.5 6.1.2.5).
func (d *textDecoder) decodeISO2022(s string) string {
	var out strings.Builder
	g0, g1 := d.g0, d.g1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1B:
			n := escapeLen(s[i+1:])
			if e, ok := escapes[s[i+1:i+1+n]]; ok && n > 0 {
				if e.g1 {
					g1 = e.set
				} else {
					g0 = e.set
				}
				i += 1 + n
				continue
			}
			out.WriteRune(utf8.RuneError)
			i++
		case c >= 0x80:
			j := i
			for j < len(s) && s[j] >= 0x80 {
				j++
			}
			out.WriteString(decodeG1(g1, s[i:j]))
			i = j
		case (g0 == setJIS0208 || g0 == setJIS0212) && c >= 0x21 && c <= 0x7E:
			j := i
			for j < len(s) && s[j] >= 0x21 && s[j] <= 0x7E {
				j++
			}
			out.WriteString(decodeJIS(g0, s[i:j]))
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String()
}

// escapeLen is the length of the escape sequence at the start of s (after
// ESC): intermediate bytes 0x20-0x2F then one final byte.
func escapeLen(s string) int {
	for i := 0; i < len(s) && i < 4; i++ {
		if s[i] < 0x20 || s[i] > 0x2F {
			if s[i] >= 0x30 && s[i] <= 0x7E {
				return i + 1
			}
			return 0
		}
	}
	return 0
}

// decodeG1 decodes bytes 0x80-0xFF in the G1 set.
func decodeG1(set codeSet, s string) string {
	switch set {
	case setKatakana:
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] >= 0xA1 && s[i] <= 0xDF {
				b.WriteRune(0xFF61 + rune(s[i]-0xA1))
			} else {
				b.WriteRune(utf8.RuneError)
			}
		}
		return b.String()
	case setKSC5601:
		return decodeWith(korean.EUCKR, s)
	case setGB2312:
		return decodeWith(simplifiedchinese.GBK, s)
	}
	if cm := upperHalf[set]; cm != nil {
		return decodeWith(cm, s)
	}
	return latin1(s)
}

// decodeJIS decodes 7-bit two-byte JIS X 0208 / 0212 text via EUC-JP.
func decodeJIS(set codeSet, s string) string {
	b := make([]byte, 0, len(s)*3/2+1)
	for i := 0; i+1 < len(s); i += 2 {
		if set == setJIS0212 {
			b = append(b, 0x8F)
		}
		b = append(b, s[i]|0x80, s[i+1]|0x80)
	}
	out := decodeWith(japanese.EUCJP, string(b))
	if len(s)%2 == 1 {
		out += string(utf8.RuneError)
	}
	return out
}

func decodeWith(enc encoding.Encoding, s string) string {
	out, err := enc.NewDecoder().String(s)
	if err != nil {
		return strings.Repeat(string(utf8.RuneError), utf8.RuneCountInString(s))
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// DecodeText converts a value written in the character set named by a
// SpecificCharacterSet value (terms separated by backslashes, e.g.
// "GB18030" or "\ISO 2022 IR 58") to UTF-8, as ReadHeader decodes text.
func DecodeText(specificCharset, s string) string {
	var terms []string
	for _, t := range strings.Split(specificCharset, `\`) {
		terms = append(terms, NormalizeCharset(strings.TrimSpace(t)))
	}
	return charsetDecoder(terms).decode(s)
}
