package push

import (
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"github.com/imgcloud/gateway/internal/progress"
)

// FailureGroup is the failures that share one reason.
type FailureGroup struct {
	Reason  string
	Count   int
	Example string // the first file (by path) that failed so
}

// uidInReason finds the UIDs in a reason: the server names the study a
// refusal is about, and the same refusal of many studies is one reason.
var uidInReason = regexp.MustCompile(`\b[0-9]+(\.[0-9]+){2,}\b`)

// Groups returns the failures grouped by reason (UIDs in it replaced by
// <UID>), the largest group first: a push the server refuses for one
// cause (a token of the wrong institution, ...) then reads as one line,
// not one per file.
func (s Summary) Groups() []FailureGroup {
	byReason := map[string]*FailureGroup{}
	var out []*FailureGroup
	for _, f := range s.Failures {
		reason := uidInReason.ReplaceAllString(f.Reason, "<UID>")
		g := byReason[reason]
		if g == nil {
			g = &FailureGroup{Reason: reason, Example: f.Path}
			byReason[reason] = g
			out = append(out, g)
		}
		g.Count++
		if f.Path < g.Example {
			g.Example = f.Path
		}
	}
	slices.SortStableFunc(out, func(a, b *FailureGroup) int { return cmp.Compare(b.Count, a.Count) })
	groups := make([]FailureGroup, len(out))
	for i, g := range out {
		groups[i] = *g
	}
	return groups
}

// Print writes a human summary: counts, the throughput of what was
// stored, then the failures as a table of reasons, each with its count
// and an example file.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "push: %d files: %d stored, %d failed, %d skipped; %s in %s",
		s.Files, s.Stored, s.Failed, s.Skipped, progress.Size(s.StoredBytes), s.Duration.Round(time.Millisecond))
	if secs := s.Duration.Seconds(); secs > 0 && s.StoredBytes > 0 {
		fmt.Fprintf(w, " (%.1f MB/s)", float64(s.StoredBytes)/1e6/secs)
	}
	fmt.Fprintln(w)
	if len(s.Skips) > 0 {
		fmt.Fprintf(w, "skipped %d: %s, e.g. %s\n", len(s.Skips), s.Skips[0].Reason, s.Skips[0].Path)
	}
	groups := s.Groups()
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(w, "failed %d, by reason:\n  %6s  %s\n", s.Failed, "FILES", "REASON (EXAMPLE FILE)")
	for _, g := range groups {
		fmt.Fprintf(w, "  %6d  %s\n  %6s  e.g. %s\n", g.Count, g.Reason, "", g.Example)
	}
}
