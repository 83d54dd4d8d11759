package dcm

import (
	"fmt"
	"strings"
)

// decodeDataSet turns what the scanner recorded into a Dataset, and says
// how its text was decoded.
func decodeDataSet(res *scanResult, sy syntax, lim Limits) (Dataset, Decoding, []string, error) {
	c := &converter{own: res.own, order: sy.order(), big: sy.big, warnings: res.warnings}
	var sender *textDecoder
	senderTerm := NormalizeCharset(lim.DefaultCharset)
	if d := charsetDecoder([]string{senderTerm}); d != defaultText { // ISO_IR 6 adds nothing
		sender = &textDecoder{mode: d.mode, enc: d.enc, g0: d.g0, g1: d.g1, log: &c.log, sender: true}
	}
	c.sender = sender
	top := sender
	if top == nil {
		top = &textDecoder{mode: modeDefault, log: &c.log}
	}
	ds, err := c.dataSet("", top)
	if err != nil {
		return nil, Decoding{}, nil, err
	}
	return ds, c.decoding(ds, senderTerm), c.warnings, nil
}

// decoding describes what c.log counted; zero when every non-ASCII value
// was read as a standard, declared character set.
func (c *converter) decoding(ds Dataset, senderTerm string) Decoding {
	l := c.log
	declared := strings.Join(ds.Strings("00080005"), `\`)
	var norm []string
	for _, t := range ds.Strings("00080005") {
		norm = append(norm, NormalizeCharset(t))
	}
	standard := strings.Join(norm, `\`) == declared
	switch {
	case l.defaulted > 0 && declared == "":
		return Decoding{Charset: senderTerm, Note: "no SpecificCharacterSet; read as " + senderTerm + ", the sender's default"}
	case l.defaulted > 0:
		return Decoding{Charset: senderTerm, Note: fmt.Sprintf("SpecificCharacterSet %q is not one the gateway knows; read as %s, the sender's default", declared, senderTerm)}
	case l.fellBack > 0:
		return Decoding{Charset: senderTerm, Note: fmt.Sprintf("SpecificCharacterSet %q does not fit the bytes of %d value(s); those were read as %s, the sender's default", declared, l.fellBack, senderTerm)}
	case l.guessedLatin1 > 0:
		return Decoding{Charset: "ISO_IR 100", Note: "no SpecificCharacterSet and text that is not UTF-8; read as ISO_IR 100 (Latin-1)"}
	case l.guessedUTF8 > 0:
		return Decoding{Charset: "ISO_IR 192", Note: "no SpecificCharacterSet; text read as UTF-8, which its bytes are"}
	case l.asDeclared > 0 && !standard:
		return Decoding{Charset: strings.Join(norm, `\`), Note: fmt.Sprintf("SpecificCharacterSet %q read as the defined term %s", declared, strings.Join(norm, `\`))}
	}
	return Decoding{}
}

// splitBackslash splits a decoded multi-valued string.
func splitBackslash(s string) []string { return strings.Split(s, `\`) }
