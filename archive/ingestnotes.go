package archive

import (
	"context"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// Charsets tells the archive which character set the party storing an
// instance writes text in when a file names none, or names one its bytes
// do not fit (a registry institution's default_charset). The archive
// knows nothing of institutions: recognition implements it.
type Charsets interface {
	// DefaultCharset returns the storing party's (auth.FromContext)
	// default, or "" to use Options.DefaultCharset.
	DefaultCharset(ctx context.Context) string
}

// The ingest block is a private block of group 0013 in each instance's
// metadata (never in the stored file, which is kept as received) that
// says what ingest did to values it could not take as they were sent.
// It is present only when there is something to say.
const (
	IngestCreator = "IMGCLOUD INGEST"
	// TagIngestDecodedAs (CS) is the character set the text was read as,
	// when that is not simply as the file declares it: the sender's
	// default, a defined term for a non-standard one, a fallback.
	TagIngestDecodedAs = "00131001"
	// TagIngestDecodingNote (LT) says why, in a sentence.
	TagIngestDecodingNote = "00131002"
	// TagIngestWarningCount (IS) counts the values the metadata does not
	// hold as sent (numbers repaired or left out, UN elements that could
	// not take their dictionary VR); the stored file keeps them.
	TagIngestWarningCount = "00131003"
	// TagIngestWarnings (UT) names them, one sentence a line.
	TagIngestWarnings = "00131004"
)

// limits returns the dcm limits for an instance stored by the party in
// ctx: its default character set, else the gateway's.
func (s *Service) limits(ctx context.Context) dcm.Limits {
	lim := s.opt.Limits
	lim.DefaultCharset = s.opt.DefaultCharset
	if s.opt.Charsets != nil {
		if cs := s.opt.Charsets.DefaultCharset(ctx); cs != "" {
			lim.DefaultCharset = cs
		}
	}
	return lim
}

// noteIngest writes the ingest block into h.Dataset and logs what the
// metadata does not hold as sent. Warnings quote no values, so they can
// be logged.
func (s *Service) noteIngest(h *dcm.Header) {
	if h.Decoding == (dcm.Decoding{}) && len(h.Warnings) == 0 {
		return
	}
	block := privateBlock(h.Dataset, IngestCreator)
	put := func(tag, vr string, v any) {
		h.Dataset[tag[:4]+block+tag[6:]] = &dcm.Element{VR: vr, Value: []any{v}}
	}
	h.Dataset[tagIngestGroup+"00"+block] = &dcm.Element{VR: "LO", Value: []any{IngestCreator}}
	if h.Decoding != (dcm.Decoding{}) {
		put(TagIngestDecodedAs, "CS", h.Decoding.Charset)
		put(TagIngestDecodingNote, "LT", h.Decoding.Note)
		s.log.Info("text not read as declared", "sop", h.SOPUID, "charset", h.Decoding.Charset, "note", h.Decoding.Note)
	}
	if len(h.Warnings) > 0 {
		put(TagIngestWarningCount, "IS", float64(len(h.Warnings)))
		put(TagIngestWarnings, "UT", strings.Join(h.Warnings, "\n"))
		s.log.Warn("values kept in the file but not as sent in the metadata", "sop", h.SOPUID, "count", len(h.Warnings), "first", h.Warnings[0])
	}
}

const tagIngestGroup = "0013"

// privateBlock returns the two hex digits of the block of group 0013
// reserved for creator in ds: its own when the file has one, else the
// first free one (PS3.5 7.8.1), so that a sender's block is not
// overwritten.
func privateBlock(ds dcm.Dataset, creator string) string {
	free := ""
	for b := 0x10; b <= 0xFF; b++ {
		k := strings.ToUpper(strconv.FormatInt(int64(b), 16))
		e := ds[tagIngestGroup+"00"+k]
		if e == nil {
			if free == "" {
				free = k
			}
			continue
		}
		if ds.String(tagIngestGroup+"00"+k) == creator {
			return k
		}
	}
	if free == "" {
		free = "FF" // every block taken: share the last
	}
	return free
}
