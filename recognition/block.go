package recognition

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// The private block added to QIDO study answers and to every instance of
// metadata answers. Viewers read these exact tags; see docs/recognition.md.
const (
	PrivateCreator    = "IMGCLOUD RECOGNITION"
	TagPrivateCreator = "00110010" // LO, PrivateCreator
	TagStatus         = "00111001" // CS, one of the Status values
	TagItemCode       = "00111002" // LO, catalogue item code
	TagItemName       = "00111003" // LO, item name in Chinese
	TagValidUntil     = "00111004" // DA, last day the result counts
	TagScope          = "00111005" // LO, region ids (multi-valued)
	TagHolding        = "00111006" // LO, holding institution id
	TagReason         = "00111007" // LT, why the status is not RECOGNISED
)

// AnnotateStudy returns the private recognition block of a study for the
// institution the request asks for (archive.Annotator).
//
// The block is computed once per study version, registry snapshot, asking
// institution and day, then served from a cache: QIDO asks for it on every
// study row of every answer.
func (s *Service) AnnotateStudy(ctx context.Context, st *index.Study) dcm.Dataset {
	b, _ := s.block(ctx, st) // an encoding error leaves the tag: its data set needs no encoding
	return b.tag.Block()
}

// AnnotateStudyMembers is AnnotateStudy's block encoded as DICOM JSON
// members (archive.MembersAnnotator): a QIDO page merges it into each
// answer as it is, and the cache keeps bytes, not elements.
func (s *Service) AnnotateStudyMembers(ctx context.Context, st *index.Study) (*dcm.Members, error) {
	b, err := s.block(ctx, st)
	if err != nil {
		return nil, err
	}
	return b.members, nil
}

// block is the cached block of st for the institution in ctx, computed
// when missing or stale. It is never nil: when the block cannot be
// encoded, it holds the tag alone (uncached) with the error.
func (s *Service) block(ctx context.Context, st *index.Study) (*cachedBlock, error) {
	asking, now, state := AskingFrom(ctx), s.opt.Now(), s.state()
	day := day(now)
	key := blockKey{st.UID, asking}
	if v, ok := s.blocks.Load(key); ok {
		if b := v.(*cachedBlock); b.version == st.Version && b.state == state && b.day.Equal(day) {
			return b, nil
		}
	}
	f := factsOf(st, s.db.SeriesOf(st.UID))
	t := state.evaluate(f, s.eligibility(ctx, st.UID), asking, now)
	m, err := dcm.EncodeMembers(t.Block())
	if err != nil {
		return &cachedBlock{tag: &t}, fmt.Errorf("encode the recognition block of study %s: %w", st.UID, err)
	}
	b := &cachedBlock{version: st.Version, state: state, day: day, tag: &t, members: m}
	if s.blockCount.Add(1) > maxCachedBlocks {
		// Bounded: start afresh rather than grow without end.
		s.blocks.Clear()
		s.blockCount.Store(0)
	}
	s.blocks.Store(key, b)
	return b, nil
}

// blockKey names a cached block: a study as one institution sees it.
type blockKey struct{ study, asking string }

// maxCachedBlocks bounds the annotation cache (studies x asking
// institutions), and the eligibility and claim caches. A cached block is
// its tag and its encoded members, under a kilobyte, so 20,000 of them
// (the pages a day's study lists reread) hold about 15 MB; a miss costs a
// series list and a record read.
const maxCachedBlocks = 20000

// cachedBlock is one computed private block and what it was computed from.
// It is shared: callers must not modify it.
type cachedBlock struct {
	version uint64
	state   *state
	day     time.Time
	tag     *Tag
	members *dcm.Members
}

// Block encodes the tag as the private DICOM block.
func (t *Tag) Block() dcm.Dataset {
	ds := dcm.Dataset{
		TagPrivateCreator: {VR: "LO", Value: []any{PrivateCreator}},
		TagStatus:         {VR: "CS", Value: []any{string(t.Status)}},
	}
	str := func(tag, vr, v string) {
		if v != "" {
			ds[tag] = &dcm.Element{VR: vr, Value: []any{v}}
		}
	}
	str(TagItemCode, "LO", t.Item)
	str(TagItemName, "LO", t.ItemName)
	str(TagValidUntil, "DA", strings.ReplaceAll(t.ValidUntil, "-", ""))
	if len(t.Scope) > 0 {
		vals := make([]any, len(t.Scope))
		for i, r := range t.Scope {
			vals[i] = r
		}
		ds[TagScope] = &dcm.Element{VR: "LO", Value: vals}
	}
	str(TagHolding, "LO", t.Holding)
	str(TagReason, "LT", t.Reason)
	return ds
}
