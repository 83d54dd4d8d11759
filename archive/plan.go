package archive

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/index"
)

// The query planner. A search reads candidate studies from one secondary
// key of the index (index/secondary.go) and applies every matcher to them,
// as it would to every study: a key only narrows, it never decides, so the
// answer is the same whatever key is chosen (TestPlannerAgreesWithScan).
//
// Each key the query offers becomes a candidate plan: an exact value
// (PatientID=123, AccessionNumber, ModalitiesInStudy, a case-folded
// PatientName) streams its studies in answer order, so limit stops it
// early; a StudyDate range is a range of the order key and streams too; a
// UID list, several values or a prefix (PatientName=zhang*) merges the
// streams of its distinct values (up to maxMergedValues) in order; past
// that, up to estimateCap candidates are sorted by their order keys, which
// the keys carry (no row is read to sort), and more are left to the order
// scan. When several plans compete the planner counts their keys, each up
// to the fewest counted so far (at most estimateCap), and takes the
// smallest, a key over the order scan on a tie; a single key is taken
// uncounted.
// Without a key the order key itself is scanned: newest first, without
// sorting the archive.
//
// In SQL (issue 21) each plan is one index range: the exact and prefix
// plans are WHERE kind=? AND value=? (or LIKE 'p%') on study_keys, the
// date plan a range of the (study_date DESC, study_time DESC, uid) index,
// and the estimates a bounded COUNT(*) (Estimate, EstimateOrder).

// estimateCap bounds the keys counted to estimate a plan (Service.planCap
// but in tests).
const estimateCap = 2000

// maxMergedValues bounds the distinct values a prefix plan merges
// (Service.mergeMax but in tests).
const maxMergedValues = 64

type plan struct {
	name string
	// est counts the plan's candidates up to max (and returns max when
	// there are as many or more). Plans are counted only when they compete:
	// counting is a key scan of its own, up to estimateCap keys, which at
	// a million studies cost more than the page it chose (BENCHMARKS.md).
	est func(max int) int
	// run calls fn with candidate study UIDs in answer order until fn
	// returns false.
	run func(fn func(uid string) bool) error
}

// known is an est of a count already made.
func known(n int) func(int) int { return func(max int) int { return min(n, max) } }

// cheapest returns the plan of plans with the fewest candidates, counting
// each only up to the fewest so far; the first of equals wins, except
// over base (the order scan; nil for none), which any key beats on a
// tie: so one plan against base is taken without counting.
func cheapest(plans []plan, base *plan, cap int) *plan {
	switch {
	case len(plans) == 0:
		return base
	case len(plans) == 1:
		return &plans[0]
	}
	best, bestEst, tieWins := base, cap, true
	if base == nil {
		best, bestEst, tieWins = &plans[0], plans[0].est(cap), false
		plans = plans[1:]
	}
	for i := range plans {
		if n := plans[i].est(bestEst); n < bestEst || n == bestEst && tieWins {
			best, bestEst, tieWins = &plans[i], n, false
		}
	}
	return best
}

// keyOf maps the query keys that have a secondary index to its kind. The
// tag must be a study attribute that no lower level overrides in row.get.
var keyOf = map[string]index.Kind{
	tagPatientID:         index.KindPatientID,
	"00100021":           index.KindIssuer,
	"00080050":           index.KindAccession,
	tagModalitiesInStudy: index.KindModality,
	tagPatientName:       index.KindName,
	"00080090":           index.KindReferring,
	"00080080":           index.KindInstitute,
	"00200010":           index.KindStudyID,
	"00100030":           index.KindBirthDate,
	"00100040":           index.KindPatientSex,
	tagModality:          index.KindModality, // a series' modality is one of its study's
}

const (
	tagPatientID        = "00100020"
	tagStudyDescription = "00081030"
)

// overridden reports whether rows of level l read tag from a lower level
// than the study first (row.get), so a study key cannot narrow it.
func overridden(l Level, tag string) bool {
	if tag == tagModality {
		return false
	}
	return l >= LevelSeries && slices.Contains(seriesTags, tag) || l >= LevelInstance && slices.Contains(instanceTags, tag)
}

// planFor returns the cheapest plan for a query's study candidates.
func (s *Service) planFor(q Query) plan {
	order := plan{name: "order", est: known(s.planCap), run: s.orderScan}
	if s.scanAll {
		return order
	}
	var plans []plan
	for _, p := range q.Params {
		if p.Value == "" || overridden(q.Level, p.Tag) {
			continue
		}
		if p.Tag == tagModality && q.Level == LevelStudy {
			continue // not matched at the study level
		}
		var pl *plan
		switch kind, ok := keyOf[p.Tag]; {
		case p.Tag == tagStudyInstanceUID:
			pl = s.uidPlan(p.Value)
		case p.Tag == tagStudyDate:
			pl = s.datePlan(p.Value)
		case p.Tag == tagStudyDescription:
			pl = s.wordPlan(p.Value)
		case ok:
			pl = s.valuePlan(kind, vrOf(p.Tag), p.Value, q.Fuzzy)
		}
		if pl != nil {
			plans = append(plans, *pl)
		}
	}
	return *cheapest(plans, &order, s.planCap)
}

// Narrower is a Visibility that can name, for the party in ctx, index
// keys under which every study it may see is found (access.Visibility): the
// studies held by institution, or by no recorded holder (unless
// institution is ""), and those of patientIDs (a patient's own). ok false
// means no narrowing (admins, share sessions).
type Narrower interface {
	Candidates(ctx context.Context) (institution string, patientIDs []string, ok bool)
}

// visiblePlan streams, in answer order, the only studies the party in ctx
// may see (a superset: the visibility check still runs on each): those of
// its institution's and the unknown holding keys merged with the
// PatientID keys of the persons whose consents may cover it. It is nil
// when the Visibility does not narrow the party.
func (s *Service) visiblePlan(ctx context.Context) *plan {
	nw, ok := s.opt.Visibility.(Narrower)
	if !ok || s.scanAll {
		return nil
	}
	inst, pids, ok := nw.Candidates(ctx)
	if !ok {
		return nil
	}
	var keys []index.Key
	if inst != "" {
		keys = []index.Key{{Kind: index.KindHolding, Value: inst}, {Kind: index.KindHolding, Value: ""}}
	}
	for _, id := range pids {
		if id != "" && !slices.Contains(keys, index.Key{Kind: index.KindPatientID, Value: id}) {
			keys = append(keys, index.Key{Kind: index.KindPatientID, Value: id})
		}
	}
	est := func(max int) int {
		n := 0
		for _, k := range keys {
			if n += s.db.Estimate(k.Kind, k.Value, true, max-n); n >= max {
				return max
			}
		}
		return n
	}
	return &plan{name: "visible", est: est, run: func(fn func(string) bool) error {
		return s.db.ScanUnion(keys, func(c index.Cursor) bool { return fn(c.UID) })
	}}
}

func (s *Service) orderScan(fn func(string) bool) error {
	return s.db.ScanOrder("", func(c index.Cursor) bool { return fn(c.UID) })
}

// uidPlan finds each study of a UID list directly.
func (s *Service) uidPlan(v string) *plan {
	var cs []index.Cursor
	sts, _ := s.db.Studies(splitList(v)) // an index away: no candidate, as for a miss
	for _, st := range sts {
		if st != nil {
			cs = append(cs, index.OrderOf(st))
		}
	}
	return &plan{name: "uid", est: known(len(cs)), run: sortedRun(cs)}
}

// datePlan scans the order key from the range's last day to its first.
func (s *Service) datePlan(v string) *plan {
	r, err := parseRange("DA", v)
	if err != nil || !r.hasRange {
		return nil
	}
	lo, hi := r.lo, r.hi
	run := func(fn func(string) bool) error {
		return s.db.ScanOrder(hi, func(c index.Cursor) bool {
			if lo != "" && c.DateTime < lo {
				return false
			}
			return fn(c.UID)
		})
	}
	est := func(max int) int { return s.db.EstimateOrder(hi, lo, max) }
	return &plan{name: "date", est: est, run: run}
}

// valuePlan is a plan over one kind of key for a matcher's value: the
// alternatives of a CS list, a wildcard's literal prefix, a person name
// case-folded (and by prefix when fuzzy). It is nil when the value has no
// literal prefix to narrow by (*word*).
func (s *Service) valuePlan(kind index.Kind, vr, value string, fuzzy bool) *plan {
	var probes []probe
	if vr == "PN" {
		pat := index.FoldName(value)
		lit, wild := literalPrefix(pat)
		switch {
		case wild && lit == "":
			return nil
		case wild && !fuzzy:
			// The pattern matches the whole name only.
			kind = index.Whole(kind)
			probes = append(probes, probe{lit, false})
		case wild || fuzzy:
			probes = append(probes, probe{lit, false})
		default:
			probes = append(probes, probe{pat, true})
		}
	} else {
		alts := []string{value}
		if vr == "CS" && strings.Contains(value, ",") {
			alts = splitList(value)
		}
		for _, a := range alts {
			lit, wild := literalPrefix(a)
			if wild && lit == "" {
				return nil
			}
			probes = append(probes, probe{lit, !wild})
		}
	}
	return s.probesPlan(kind, probes)
}

// probe is one value of a kind of key, or a prefix of values.
type probe struct {
	v     string
	exact bool
}

// wordPlan is a plan over the StudyDescription word keys: of the
// pattern's words, the one whose prefix scan counts fewest keys. It is nil
// for a pattern without letters or digits.
func (s *Service) wordPlan(value string) *plan {
	var plans []plan
	for _, w := range index.WordProbes(value) {
		plans = append(plans, *s.probesPlan(index.KindWord, []probe{{w, false}}))
	}
	return cheapest(plans, nil, s.planCap)
}

// probesPlan streams the studies with a key of kind matching any probe.
func (s *Service) probesPlan(kind index.Kind, probes []probe) *plan {
	est := func(max int) int {
		n := 0
		for _, pr := range probes {
			if n += s.db.Estimate(kind, pr.v, pr.exact, max-n); n >= max {
				return max
			}
		}
		return n
	}
	if len(probes) == 1 && probes[0].exact {
		pr := probes[0]
		return &plan{name: string(kind), est: est, run: func(fn func(string) bool) error {
			return s.db.ScanKey(kind, pr.v, true, func(c index.Cursor) bool { return fn(c.UID) })
		}}
	}
	ps := make([]index.Probe, len(probes))
	for i, pr := range probes {
		ps[i] = index.Probe{Value: pr.v, Exact: pr.exact}
	}
	return &plan{name: string(kind) + "*", est: est, run: func(fn func(string) bool) error {
		// Few values (zhang* covers a few dozen names): merge their
		// streams, each in order, so that limit stops early.
		merged, err := s.db.ScanMerged(kind, ps, s.mergeMax, func(c index.Cursor) bool { return fn(c.UID) })
		if err != nil || merged {
			return err
		}
		// Many values: few candidates are sorted by their order keys, many
		// left to the order scan, which limit stops early.
		if est(s.planCap) >= s.planCap {
			return s.orderScan(fn)
		}
		var cs []index.Cursor
		for _, pr := range probes {
			if err := s.db.ScanKey(kind, pr.v, pr.exact, func(c index.Cursor) bool {
				cs = append(cs, c)
				return true
			}); err != nil {
				return err
			}
		}
		return sortedRun(cs)(fn)
	}}
}

// sortedRun streams cursors in answer order, each study once.
func sortedRun(cs []index.Cursor) func(func(string) bool) error {
	slices.SortFunc(cs, func(a, b index.Cursor) int { return cmp.Compare(a.Order, b.Order) })
	cs = slices.CompactFunc(cs, func(a, b index.Cursor) bool { return a.UID == b.UID })
	return func(fn func(string) bool) error {
		for _, c := range cs {
			if !fn(c.UID) {
				return nil
			}
		}
		return nil
	}
}

// literalPrefix returns the part of a pattern before its first wildcard
// and whether it has one.
func literalPrefix(pat string) (string, bool) {
	if i := strings.IndexAny(pat, "*?"); i >= 0 {
		return pat[:i], true
	}
	return pat, false
}
