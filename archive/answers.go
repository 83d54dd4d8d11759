package archive

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Encoded answers. Building a study's answer (a data set of the returned
// attributes) and encoding it as DICOM JSON cost more than finding the
// study: at a million instances every page of the QIDO mix is 100 studies,
// and rendering and encoding were half of the server's time per request
// (BENCHMARKS.md). A study row changes only with its Version, and the
// attributes a page returns are the same for every query of a kind, so the
// encoded attributes of a study are kept, per study, in a bounded cache;
// the annotators' private block (which depends on who asks and when) is
// encoded for each answer and merged in tag order.

// answerSlots and answerBytes bound the cache: one entry per slot (a
// study's UID picks its slot; a newer study takes it), and at most
// answerBytes of encoded attributes in all. A default study answer is
// about 1 KB, so a full cache holds about 16 MB.
const (
	answerSlots = 16384
	answerBytes = 16 << 20
	// answerMax is the largest answer kept (bigger ones, with long
	// descriptions or many values, are encoded each time).
	answerMax = 8 << 10
)

// answerCache holds encoded study answers, direct-mapped by UID.
type answerCache struct {
	seed  maphash.Seed
	mu    sync.Mutex
	slots []*encodedStudy
	used  int
}

// encodedStudy is one study's encoded attributes. It is shared: never
// modified.
type encodedStudy struct {
	uid     string
	version uint64
	sig     string // the returned attributes it was encoded for
	m       *dcm.Members
}

func (e *encodedStudy) size() int { return len(e.uid) + len(e.sig) + e.m.Size() + 64 }

func newAnswerCache() *answerCache {
	return &answerCache{seed: maphash.MakeSeed(), slots: make([]*encodedStudy, answerSlots)}
}

func (c *answerCache) slot(uid string) int {
	return int(maphash.String(c.seed, uid) % uint64(len(c.slots)))
}

func (c *answerCache) get(st *index.Study, sig string) *encodedStudy {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.slots[c.slot(st.UID)]
	if e != nil && e.uid == st.UID && e.version == st.Version && e.sig == sig {
		return e
	}
	return nil
}

func (c *answerCache) put(e *encodedStudy) {
	n := e.size()
	if n > answerMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.slot(e.uid)
	if old := c.slots[i]; old != nil {
		c.used -= old.size()
	}
	if c.used+n > answerBytes {
		c.slots[i] = nil
		return
	}
	c.slots[i] = e
	c.used += n
}

// answerSig names a list of returned attributes (sorted by tag).
func answerSig(tags []returnTag) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(t.tag)
	}
	return b.String()
}

// MembersAnnotator is an Annotator that keeps its blocks encoded
// (recognition does): a page merges them into the answers as they are.
type MembersAnnotator interface {
	AnnotateStudyMembers(ctx context.Context, st *index.Study) (*dcm.Members, error)
}

// encodeStudy appends the study-level answer for st (the attributes of
// tags, sorted by tag, whose signature is sig, and the annotators' block)
// to b as one JSON object.
func (s *Service) encodeStudy(ctx context.Context, b []byte, st *index.Study, tags []returnTag, sig string) ([]byte, error) {
	e := s.answers.get(st, sig)
	if e == nil {
		ds := render(row{st: st}, tags, false)
		m, err := dcm.EncodeMembers(ds)
		if err != nil {
			return nil, err
		}
		if m == nil { // not all tags: encoded as a data set, uncached
			s.annotate(ctx, st, ds)
			return ds.AppendJSON(b)
		}
		e = &encodedStudy{uid: st.UID, version: st.Version, sig: sig, m: m}
		s.answers.put(e)
	}
	ann, err := s.annotationMembers(ctx, st)
	if err != nil {
		return nil, err
	}
	return e.m.AppendObject(b, ann), nil
}

// annotationMembers is the annotators' block of st, encoded: as the one
// annotator keeps it, or encoded here.
func (s *Service) annotationMembers(ctx context.Context, st *index.Study) (*dcm.Members, error) {
	switch len(s.opt.Annotators) {
	case 0:
		return nil, nil
	case 1:
		if ma, ok := s.opt.Annotators[0].(MembersAnnotator); ok {
			return ma.AnnotateStudyMembers(ctx, st)
		}
	}
	ann := dcm.Dataset{}
	s.annotate(ctx, st, ann)
	m, err := dcm.EncodeMembers(ann)
	if err == nil && m == nil {
		err = fmt.Errorf("an annotation of study %s has a key that is not a tag", st.UID)
	}
	return m, err
}
