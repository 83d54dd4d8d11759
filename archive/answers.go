package archive

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/jsonappend"
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

// encodedStudy is one study's encoded attributes, in tag order, separated
// by commas: member i (`"tag":{...}`) ends at ends[i] in js and is that of
// the tag tags[8i:8i+8] (tags are 8 hexadecimal digits). It is shared:
// never modified.
type encodedStudy struct {
	uid     string
	version uint64
	sig     string // the returned attributes it was encoded for
	tags    string
	js      []byte
	ends    []int32
}

func (e *encodedStudy) size() int { return len(e.uid) + len(e.tags) + len(e.js) + 4*len(e.ends) + 96 }

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

// encodeStudy appends the study-level answer for st (the attributes of
// tags, sorted by tag, whose signature is sig, and the annotators' block)
// to b as one JSON object.
func (s *Service) encodeStudy(ctx context.Context, b []byte, st *index.Study, tags []returnTag, sig string) ([]byte, error) {
	e := s.answers.get(st, sig)
	if e == nil {
		ds := render(row{st: st}, tags, false)
		var err error
		if e, err = encodeMembers(ds); err != nil {
			return nil, err
		}
		if e == nil { // not all tags: encoded as a data set, uncached
			s.annotate(ctx, st, ds)
			return ds.AppendJSON(b)
		}
		e.uid, e.version, e.sig = st.UID, st.Version, sig
		s.answers.put(e)
	}
	var ann dcm.Dataset
	switch len(s.opt.Annotators) {
	case 0:
	case 1: // its block as it is (shared: only read here)
		ann = s.opt.Annotators[0].AnnotateStudy(ctx, st)
	default:
		ann = dcm.Dataset{}
		s.annotate(ctx, st, ann)
	}
	var scratch [16]string
	extra := scratch[:0]
	for t := range ann {
		extra = append(extra, t)
	}
	slices.Sort(extra)
	// Merge the two in tag order; an annotation replaces an attribute of
	// the same tag, as it does in a data set.
	b = append(b, '{')
	i, n := 0, len(e.ends)
	begin := func(i int) int32 { // of member i, past the comma before it
		if i == 0 {
			return 0
		}
		return e.ends[i-1] + 1
	}
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	for _, t := range extra {
		i0 := i
		for i < n && e.tags[8*i:8*i+8] < t {
			i++
		}
		if i > i0 {
			sep()
			b = append(b, e.js[begin(i0):e.ends[i-1]]...)
		}
		if i < n && e.tags[8*i:8*i+8] == t {
			i++
		}
		sep()
		b = append(jsonappend.String(b, t), ':')
		var err error
		if b, err = ann[t].AppendJSON(b); err != nil {
			return nil, err
		}
	}
	if i < n {
		sep()
		b = append(b, e.js[begin(i):]...)
	}
	return append(b, '}'), nil
}

// encodeMembers encodes each attribute of ds as a JSON object member, in
// tag order; nil if a key of ds is not a tag of 8 digits (the layout of
// encodedStudy.tags).
func encodeMembers(ds dcm.Dataset) (*encodedStudy, error) {
	tags := make([]string, 0, len(ds))
	for t := range ds {
		if len(t) != 8 {
			return nil, nil
		}
		tags = append(tags, t)
	}
	slices.Sort(tags)
	e := &encodedStudy{tags: strings.Join(tags, ""), ends: make([]int32, len(tags))}
	var buf []byte
	for i, t := range tags {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(jsonappend.String(buf, t), ':')
		var err error
		if buf, err = ds[t].AppendJSON(buf); err != nil {
			return nil, err
		}
		e.ends[i] = int32(len(buf))
	}
	e.js = buf
	return e, nil
}
