package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Level is a QIDO-RS query level.
type Level int

// Query levels.
const (
	LevelStudy Level = iota
	LevelSeries
	LevelInstance
)

// String names the level as PS3.18 does.
func (l Level) String() string {
	switch l {
	case LevelStudy:
		return "study"
	case LevelSeries:
		return "series"
	}
	return "instance"
}

// Param is one matching key of a query: a tag and the raw value.
type Param struct{ Tag, Value string }

// Query is a parsed QIDO-RS request.
type Query struct {
	Level Level
	// Study and Series scope the search when the URL names them.
	Study, Series string
	Params        []Param
	Include       []string
	IncludeAll    bool
	Limit, Offset int
	Fuzzy         bool
	// Count asks for the total number of matches besides the page
	// (Result.Total).
	Count bool
	// Encoded asks for the page as DICOM JSON (Result.Encoded) rather than
	// as data sets (Items): what the HTTP answer writes, from a cache of
	// encoded study answers (answers.go).
	Encoded bool
}

// Result is a page of QIDO-RS answers.
type Result struct {
	Items []dcm.Dataset
	// Encoded is the page as DICOM JSON objects, one per answer, in place
	// of Items when Query.Encoded asked.
	Encoded [][]byte
	// More is true when results beyond Limit exist (PS3.18 asks for a
	// Warning header then).
	More bool
	// Ignored lists attributes the gateway does not match on at this
	// level; they are ignored, with a Warning header.
	Ignored []string
	// Remote are the results held by other gateways (a federated search,
	// package federation), each already encoded as DICOM JSON: the answer
	// lists them after Items.
	Remote []json.RawMessage
	// Warnings are further Warning header values, after those of More and
	// Ignored: peers that failed, results left out.
	Warnings []string
	// Total is the number of matches on this gateway, whatever limit and
	// offset, when Query.Count asked and Counted says it was counted: from
	// the index's keys or stored counts where one key decides the query,
	// else by matching the rows, within Options.MaxExamined.
	Total   int
	Counted bool

	// release returns the page's buffer (Encoded's bytes) for reuse.
	release func()
}

// Release says the caller is done with Encoded, whose bytes are then
// reused for another page. Calling it is optional (without it the buffer
// is collected); using Encoded after it is not allowed.
func (r *Result) Release() {
	if r != nil && r.release != nil {
		r.release()
		r.release, r.Encoded = nil, nil
	}
}

// MaxLimit bounds one page of results.
const MaxLimit = 10000

// row is one candidate result with attribute lookup across levels.
type row struct {
	st *index.Study
	se *index.Series
	in *index.Instance
}

func (r row) get(tag string) *dcm.Element {
	switch tag {
	case tagModalitiesInStudy:
		if len(r.st.Modalities) == 0 {
			return nil
		}
		return &dcm.Element{VR: "CS", Value: strs(r.st.Modalities)}
	case tagNumStudySeries:
		return &dcm.Element{VR: "IS", Value: []any{float64(r.st.Series)}}
	case tagNumStudyInstances:
		return &dcm.Element{VR: "IS", Value: []any{float64(r.st.Instances)}}
	case tagNumSeriesInstances:
		if r.se == nil {
			return nil
		}
		return &dcm.Element{VR: "IS", Value: []any{float64(r.se.Instances)}}
	case tagInstanceAvailability:
		return &dcm.Element{VR: "CS", Value: []any{"ONLINE"}}
	case tagSpecificCharacterSet:
		// Every string the gateway answers with is UTF-8.
		return &dcm.Element{VR: "CS", Value: []any{"ISO_IR 192"}}
	case tagRetrieveURL:
		u := BasePlaceholder + "/studies/" + r.st.UID
		if r.se != nil {
			u += "/series/" + r.se.UID
		}
		if r.in != nil {
			u += "/instances/" + r.in.SOP
		}
		return &dcm.Element{VR: "UR", Value: []any{u}}
	}
	if r.in != nil {
		if e, ok := r.in.Attrs[tag]; ok {
			return e
		}
	}
	if r.se != nil {
		if e, ok := r.se.Attrs[tag]; ok {
			return e
		}
	}
	if e, ok := r.st.Attrs[tag]; ok {
		return e
	}
	return nil
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// computedVR gives the VR of attributes that are not in the dictionary's
// usual place or are computed.
func vrOf(tag string) string {
	switch tag {
	case tagModalitiesInStudy:
		return "CS"
	}
	return dcm.VRForTag(tag)
}

// levelTags are the attributes the index holds for rows of a level
// (including those of the levels above).
func levelTags(l Level) map[string]bool {
	m := map[string]bool{}
	add := func(ts []string) {
		for _, t := range ts {
			m[t] = true
		}
	}
	add(studyTags)
	add([]string{tagModalitiesInStudy, tagNumStudySeries, tagNumStudyInstances})
	if l >= LevelSeries {
		add(seriesTags)
		add([]string{tagNumSeriesInstances})
	}
	if l >= LevelInstance {
		add(instanceTags)
	}
	return m
}

// lowerLevelTags are the attributes the index keeps only below level l.
func lowerLevelTags(l Level) map[string]bool {
	below := map[string]bool{}
	if l == LevelInstance {
		return below
	}
	at := levelTags(l)
	for _, t := range instanceTags {
		below[t] = true
	}
	if l == LevelStudy {
		for _, t := range append(slices.Clone(seriesTags), tagNumSeriesInstances) {
			below[t] = true
		}
	}
	for t := range at {
		delete(below, t)
	}
	return below
}

// seeInstead points to the study-level attribute that carries a series
// one a client asked for.
func seeInstead(l Level, leftOut []string) string {
	if l == LevelStudy && slices.Contains(leftOut, "Modality") {
		return " (ModalitiesInStudy lists the modalities of a study)"
	}
	return ""
}

// defaultLimit is the page of a search that names no limit. A study list
// (or a search of series or instances across studies) grows with the
// archive: DefaultLimit, with the Warning that more exist. The series of
// one study and the instances of one series or study are bounded by the
// study, and a client listing them (a viewer loading a 3,000-slice CT)
// expects them all: MaxLimit.
func (s *Service) defaultLimit(q Query) int {
	if (q.Level == LevelSeries && q.Study != "") || (q.Level == LevelInstance && (q.Study != "" || q.Series != "")) {
		return MaxLimit
	}
	return s.opt.DefaultLimit
}

// Search answers a QIDO-RS query from the index alone; scope must be
// this gateway (the zero Scope).
func (s *Service) Search(ctx context.Context, q Query, scope Scope) (*Result, error) {
	if err := searchOnly(scope); err != nil {
		return nil, err
	}
	switch {
	case q.Limit <= 0:
		q.Limit = s.defaultLimit(q)
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	known := levelTags(q.Level)
	res := &Result{}
	var matchers []matcher
	returnTags := map[string]bool{}
	for _, t := range defaultTags(q.Level) {
		returnTags[t] = true
	}
	for _, p := range q.Params {
		if !known[p.Tag] {
			res.Ignored = append(res.Ignored, keyword(p.Tag))
			continue
		}
		returnTags[p.Tag] = true
		m, err := compile(p.Tag, vrOf(p.Tag), p.Value, q.Fuzzy)
		if err != nil {
			return nil, err
		}
		if m != nil {
			matchers = append(matchers, m)
		}
		// A UID key narrows the scan.
		switch {
		case p.Tag == tagStudyInstanceUID && q.Study == "" && dcm.ValidUID(p.Value):
			q.Study = p.Value
		case p.Tag == tagSeriesInstanceUID && q.Series == "" && dcm.ValidUID(p.Value) && q.Level == LevelInstance:
			q.Series = p.Value
		}
	}
	// An attribute of a lower level has no value at this one (a study has
	// modalities, not a Modality): it is left out, not answered empty,
	// which viewers read as a value (OHIF v2's study list breaks on an
	// empty Modality), and a Warning says so.
	below := lowerLevelTags(q.Level)
	var leftOut []string
	for _, t := range q.Include {
		if below[t] {
			leftOut = append(leftOut, keyword(t))
			continue
		}
		returnTags[t] = true
	}
	if len(leftOut) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf(`299 gateway "The following attributes are not attributes of the %s level and were left out: %s%s"`,
			q.Level, strings.Join(leftOut, ", "), seeInstead(q.Level, leftOut)))
	}
	if q.Offset >= s.opt.MaxExamined {
		return nil, &InvalidError{Field: "offset", Reason: fmt.Sprintf("%d is beyond the %d rows one search examines: page with limit and a narrower query instead (a StudyDate range ending at the last answer's date, PatientID, AccessionNumber, ModalitiesInStudy)", q.Offset, s.opt.MaxExamined)}
	}
	// The study list of a party that sees every study skips its offset on
	// the key, without reading the rows it skips: no matcher needs them.
	offset, keySkip := q.Offset, 0
	if q.Level == LevelStudy && len(matchers) == 0 && s.seesAll(ctx) {
		offset, keySkip = 0, q.Offset
	}
	// A count the keys give needs no row past the page; any other count
	// matches every candidate, within the bound.
	counting := false
	if q.Count {
		if n, ok := s.keyCount(ctx, q, matchers); ok {
			res.Total, res.Counted = n, true
		} else {
			counting = true
		}
	}
	rt := returnList(returnTags)
	sig := answerSig(rt)
	var buf []byte // the encoded page, which res.Encoded slices
	if q.Encoded {
		// A study answer is about 1.3 KB: a page sized once, not grown.
		n := 32 << 10
		if q.Level == LevelStudy {
			n = max(n, min(q.Limit, 200)*1536)
		}
		if p, _ := s.pages.Get().(*[]byte); p != nil && cap(*p) >= n {
			buf = (*p)[:0]
		} else {
			buf = make([]byte, 0, n)
		}
		defer func() {
			// The page's buffer goes back to the pool when the caller is
			// done with it (Release); the last one appended is what grew.
			b := buf
			res.release = func() { s.pages.Put(&b) }
		}()
	}
	var eerr error
	page := func() int { return len(res.Items) + len(res.Encoded) }
	skipped, beyond := 0, 0
	emit := func(r row) bool {
		for _, m := range matchers {
			if !m(r.get) {
				return true
			}
		}
		if skipped < offset {
			skipped++
			return true
		}
		if page() == q.Limit {
			res.More = true
			beyond++
			return counting
		}
		if q.Encoded {
			start := len(buf)
			if q.Level == LevelStudy && !q.IncludeAll {
				buf, eerr = s.encodeStudy(ctx, buf, r.st, rt, sig)
			} else {
				ds := render(r, rt, q.IncludeAll)
				if q.Level == LevelStudy {
					s.annotate(ctx, r.st, ds)
				}
				buf, eerr = ds.AppendJSON(buf)
			}
			if eerr != nil {
				return false
			}
			res.Encoded = append(res.Encoded, buf[start:len(buf):len(buf)])
			return true
		}
		ds := render(r, rt, q.IncludeAll)
		if q.Level == LevelStudy {
			s.annotate(ctx, r.st, ds)
		}
		res.Items = append(res.Items, ds)
		return true
	}
	stopped, err := s.scan(ctx, q, keySkip, emit)
	if err == nil && eerr != nil {
		err = fmt.Errorf("encode answer: %w", eerr)
	}
	if err != nil {
		return nil, err
	}
	if counting && !stopped {
		res.Total, res.Counted = skipped+page()+beyond, true
	}
	if stopped && counting && page() == q.Limit {
		// The page is whole; only the count stopped (and whether more
		// match is not known: say there may be).
		res.More = true
		res.Warnings = append(res.Warnings, fmt.Sprintf(`299 gateway "The total was not counted: more than %d rows match or were examined; %s"`, s.opt.MaxExamined, narrower))
		return res, nil
	}
	if stopped {
		what := "rows"
		if q.Level == LevelStudy {
			what = "studies"
		}
		if page() == 0 {
			// An empty page would read as "no match", which it is not.
			return nil, &InvalidError{Reason: fmt.Sprintf("the search examined %d %s (the most one search may) without finding an answer: %s", s.opt.MaxExamined, what, narrower)}
		}
		res.More = true
		res.Warnings = append(res.Warnings, fmt.Sprintf(`299 gateway "The search stopped after examining %d %s: the answer may be incomplete; %s"`, s.opt.MaxExamined, what, narrower))
	}
	return res, nil
}

// keyCount counts a query's matches from the index alone, when it can:
// the study list of a party that sees every study is the stored count of
// studies, and a study query with one exact value of a key whose values
// are the attribute's (PatientID=123, ModalitiesInStudy=CT) is the count
// of that value's keys, up to keyCountCap times the row bound.
func (s *Service) keyCount(ctx context.Context, q Query, matchers []matcher) (int, bool) {
	if q.Level != LevelStudy || q.Study != "" || !s.seesAll(ctx) {
		return 0, false
	}
	if len(matchers) == 0 {
		n, _, _ := s.db.Counts()
		return n, true
	}
	if len(matchers) > 1 {
		return 0, false
	}
	for _, p := range q.Params {
		if m, _ := compile(p.Tag, vrOf(p.Tag), p.Value, q.Fuzzy); m == nil {
			continue // universal: no matcher
		}
		kind, ok := keyOf[p.Tag]
		if !ok || vrOf(p.Tag) == "PN" || strings.ContainsAny(p.Value, `*?,\`) {
			return 0, false
		}
		limit := keyCountCap * s.opt.MaxExamined
		if n := s.db.Estimate(kind, p.Value, true, limit); n < limit {
			return n, true
		}
	}
	return 0, false
}

// keyCountCap is how many keys a count may read per row it could examine:
// a key costs far less than a row (it is not decoded).
const keyCountCap = 10

// narrower names the queries the index answers from a key.
const narrower = "narrow it with PatientID, AccessionNumber, StudyDate, ModalitiesInStudy, a PatientName prefix or a whole word of StudyDescription (*word*)"

// seesAll reports whether the Visibility shows the party in ctx every
// study (AllVisible), so that rows need not be read to be skipped.
func (s *Service) seesAll(ctx context.Context) bool {
	a, ok := s.opt.Visibility.(AllVisible)
	return ok && a.SeesAll(ctx)
}

// AllVisible is a Visibility that can tell that the party in ctx sees
// every study (an admin; Unrestricted).
type AllVisible interface {
	SeesAll(ctx context.Context) bool
}

func defaultTags(l Level) []string {
	switch l {
	case LevelSeries:
		return defaultSeries
	case LevelInstance:
		return defaultInstance
	}
	return defaultStudy
}

// scan feeds candidate rows of the query's level and scope to emit, in
// answer order: studies from the plan's key (plan.go), then their series
// and instances; the first skip candidates are passed over on the key,
// unread. It reports whether it stopped at Options.MaxExamined rows
// examined (candidate studies, and the series and instances of each
// below the study level).
func (s *Service) scan(ctx context.Context, q Query, skip int, emit func(row) bool) (stopped bool, err error) {
	pl := s.planFor(q)
	// The visible plan is a part of the order scan, in the same order:
	// it wins ties.
	if vp := s.visiblePlan(ctx); vp != nil {
		if n := vp.est(s.planCap); pl.est(n) >= n {
			pl = *vp
		}
	}
	run := pl.run
	if q.Study != "" {
		run = func(fn func(string) bool) error { fn(q.Study); return nil }
	}
	var ferr error
	examined := 0
	// more counts one more row examined and reports whether the bound
	// lets it be.
	more := func() bool {
		if examined++; examined > s.opt.MaxExamined {
			stopped = true
			return false
		}
		return true
	}
	// visit feeds the rows of one visible candidate study to emit and
	// reports whether to go on.
	visit := func(st *index.Study, series []*index.Series) bool {
		if !s.visible(ctx, st) {
			return true
		}
		if q.Level == LevelStudy {
			return emit(row{st: st})
		}
		// The instances of every series of a study are read in one call
		// (one query on PostgreSQL, not one per series).
		var bySeries map[string][]*index.Instance
		if q.Level == LevelInstance && q.Series == "" {
			all, err := s.db.Instances(st.UID, "")
			if err != nil {
				ferr = fmt.Errorf("%w: %w", ErrUnavailable, err)
				return false
			}
			bySeries = make(map[string][]*index.Instance)
			for _, in := range all {
				bySeries[in.Series] = append(bySeries[in.Series], in)
			}
		}
		for _, se := range series {
			if q.Series != "" && se.UID != q.Series {
				continue
			}
			if q.Level == LevelSeries {
				if !more() {
					return false
				}
				s.rowsRead.Add(1)
				if !emit(row{st: st, se: se}) {
					return false
				}
				continue
			}
			ins := bySeries[se.UID]
			if bySeries == nil {
				var err error
				if ins, err = s.db.Instances(st.UID, se.UID); err != nil {
					ferr = fmt.Errorf("%w: %w", ErrUnavailable, err)
					return false
				}
			}
			for _, in := range ins {
				if !more() {
					return false
				}
				s.rowsRead.Add(1)
				if !emit(row{st: st, se: se, in: in}) {
					return false
				}
			}
		}
		return true
	}
	// Candidates are read a page at a time (index.Rows.Studies, and below
	// the study level SeriesOfStudies: one query each on PostgreSQL
	// instead of one per study): the first page as large as
	// the answer needs when every candidate matches, later ones twice as
	// large. A page stops one candidate past the row bound, so that more
	// stops where reading one by one would.
	size := min(max(q.Limit+q.Offset-skip+1, 1), maxPage)
	page := make([]string, 0, size)
	flush := func() bool {
		sts, err := s.db.Studies(page)
		var series map[string][]*index.Series // below the study level: the page's, in one read
		if err == nil && q.Level != LevelStudy {
			series, err = s.db.SeriesOfStudies(page)
		}
		page = page[:0]
		if err != nil {
			ferr = fmt.Errorf("%w: %w", ErrUnavailable, err)
			return false
		}
		for _, st := range sts {
			if !more() {
				return false
			}
			s.studiesRead.Add(1)
			s.rowsRead.Add(1)
			if st != nil && !visit(st, series[st.UID]) { // nil: removed since the key was read
				return false
			}
		}
		size = min(2*size, maxPage)
		return true
	}
	err = run(func(uid string) bool {
		if ferr = ctx.Err(); ferr != nil {
			return false
		}
		if skip > 0 {
			if !more() {
				return false
			}
			skip--
			return true
		}
		if page = append(page, uid); len(page) < size && examined+len(page) <= s.opt.MaxExamined {
			return true
		}
		return flush()
	})
	if ferr == nil && err == nil && len(page) > 0 {
		flush()
	}
	if ferr != nil {
		return false, ferr
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return stopped, nil
}

// maxPage bounds the candidate studies a search reads at once.
const maxPage = 256

// returnTag is an attribute an answer carries, with the VR it has when
// the row lacks it.
type returnTag struct{ tag, vr string }

// returnList is the attributes of tags with their VRs, looked up once per
// query rather than once per row, sorted by tag.
func returnList(tags map[string]bool) []returnTag {
	out := make([]returnTag, 0, len(tags))
	for t := range tags {
		out = append(out, returnTag{t, vrOf(t)})
	}
	slices.SortFunc(out, func(a, b returnTag) int { return strings.Compare(a.tag, b.tag) })
	return out
}

// render builds the answer for one row: the requested attributes that the
// row has, and with includefield=all everything the index holds for it.
func render(r row, tags []returnTag, all bool) dcm.Dataset {
	// Sized for the tags, the row's UIDs and a private block of a few
	// (annotations): growing the map cost a quarter of rendering.
	n := len(tags) + 3 + 8
	if all {
		n += len(r.st.Attrs)
		if r.se != nil {
			n += len(r.se.Attrs)
		}
		if r.in != nil {
			n += len(r.in.Attrs)
		}
	}
	out := make(dcm.Dataset, n)
	if all {
		for t, e := range r.st.Attrs {
			out[t] = e
		}
		if r.se != nil {
			for t, e := range r.se.Attrs {
				out[t] = e
			}
		}
		if r.in != nil {
			for t, e := range r.in.Attrs {
				out[t] = e
			}
		}
	}
	for _, t := range tags {
		if e := r.get(t.tag); e != nil {
			out[t.tag] = e
		} else if t.vr != "" {
			out[t.tag] = &dcm.Element{VR: t.vr}
		}
	}
	// Always identify the row.
	out[tagStudyInstanceUID] = &dcm.Element{VR: "UI", Value: []any{r.st.UID}}
	if r.se != nil {
		out[tagSeriesInstanceUID] = &dcm.Element{VR: "UI", Value: []any{r.se.UID}}
	}
	if r.in != nil {
		out[tagSOPInstanceUID] = &dcm.Element{VR: "UI", Value: []any{r.in.SOP}}
	}
	return out
}
