package audit

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// ActionRefused is the action of the event that summarises the requests a
// rate limit refused from one source.
const ActionRefused = "REFUSED (rate limit)"

// maxRefusalSources bounds the sources counted between two summaries; the
// others are counted together under "other sources".
const maxRefusalSources = 4096

// refusals counts refused requests per source between two summaries, so
// that a flood of refused requests writes one event per source and period
// instead of one per request.
type refusals struct {
	every time.Duration
	mu    sync.Mutex
	m     map[string]*refusal
}

type refusal struct {
	n           int
	first, last time.Time
}

// Refused counts one request from source that a rate limit refused; it is
// recorded with the others from that source in one event ("N requests
// refused from S in T") every Options.SummaryEvery.
func (l *Log) Refused(source string, now time.Time) {
	source = clean(source, maxField)
	r := &l.refused
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.m[source]
	if c == nil {
		if len(r.m) >= maxRefusalSources {
			source = "other sources"
			c = r.m[source]
		}
		if c == nil {
			c = &refusal{first: now}
			r.m[source] = c
		}
	}
	c.n++
	c.last = now
}

// take returns the summaries of the sources whose first refusal is at
// least r.every old (all of them when all is set) and forgets them.
func (r *refusals) take(now time.Time, all bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for src, c := range r.m {
		if !all && now.Sub(c.first) < r.every {
			continue
		}
		out = append(out, Event{Time: c.first.UTC(), Action: ActionRefused, Outcome: http.StatusTooManyRequests, Source: src,
			Detail: fmt.Sprintf("%d requests refused from %s in %s", c.n, src, c.last.Sub(c.first).Round(time.Millisecond))})
		delete(r.m, src)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
