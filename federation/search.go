package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/imgcloud/gateway/archive"
)

// Answer is one peer's part of a federated search.
type Answer struct {
	Peer    Peer
	Items   []Item
	Latency time.Duration
	// Truncated: the peer answered more than MaxResults studies.
	Truncated bool
	// Err is a *PeerError when the peer failed.
	Err error
}

// Search asks peers, in parallel, for the studies matching query (the
// QIDO-RS parameters, passed on unchanged), each under the per-peer
// deadline, for who. It returns one answer per peer, in the order given,
// once every peer has answered or failed: never later than the deadline.
// Every goroutine it starts has returned when it returns.
func (s *Service) Search(ctx context.Context, peers []Peer, query url.Values, who Asking) []Answer {
	out := make([]Answer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.searchPeer(ctx, p, query, who)
		}()
	}
	wg.Wait()
	return out
}

func (s *Service) searchPeer(ctx context.Context, p Peer, query url.Values, who Asking) Answer {
	a := Answer{Peer: p}
	release, ok := s.acquire(p)
	if !ok {
		a.Err = &PeerError{Peer: p.Name, Kind: KindBusy, Detail: "too many requests in flight"}
		s.status.record(p.Name, 0, a.Err)
		return a
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	start := time.Now()
	a.Items, a.Truncated, a.Err = s.fetchStudies(ctx, p, query, who)
	a.Latency = time.Since(start)
	s.status.record(p.Name, a.Latency, a.Err)
	return a
}

// fetchStudies runs one peer's QIDO: signed request, bounded read,
// provenance check, then decoding and validation of each result.
func (s *Service) fetchStudies(ctx context.Context, p Peer, query url.Values, who Asking) ([]Item, bool, error) {
	c, err := s.get(ctx, p, "/studies", query, "application/dicom+json", who)
	if err != nil {
		return nil, false, err
	}
	defer c.resp.Body.Close()
	ct := c.resp.Header.Get("Content-Type")
	mt, err := checkContentType(p, ct)
	if err != nil {
		return nil, false, err
	}
	if !IsJSON(mt) {
		return nil, false, &PeerError{Peer: p.Name, Kind: KindInvalid, Detail: "search answer is not JSON"}
	}
	body := newHashingBody(c.resp.Body, s.opt.MaxAnswerBytes)
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, false, classify(ctx, p, err)
	}
	if err := verifyProvenance(p, c.resp.Trailer.Get(HeaderProvenance), c.nonce, c.target, c.resp.StatusCode, ct, body.h.Sum(nil)); err != nil {
		return nil, false, &PeerError{Peer: p.Name, Kind: KindProvenance, Detail: err.Error()}
	}
	items, truncated, err := decodeItems(b, s.opt.MaxResults)
	if err != nil {
		return nil, false, &PeerError{Peer: p.Name, Kind: KindInvalid, Detail: err.Error()}
	}
	return items, truncated, nil
}

// decodeItems decodes and validates a QIDO-RS study answer, keeping at
// most max results.
func decodeItems(b []byte, max int) ([]Item, bool, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false, fmt.Errorf("answer is not a JSON array: %v", shortErr(err))
	}
	truncated := len(raw) > max
	if truncated {
		raw = raw[:max]
	}
	items := make([]Item, 0, len(raw))
	for _, r := range raw {
		var it Item
		if err := json.Unmarshal(r, &it); err != nil || it == nil {
			return nil, false, fmt.Errorf("a result is not a JSON object")
		}
		if _, err := it.validate(); err != nil {
			return nil, false, err
		}
		items = append(items, it)
	}
	return items, truncated, nil
}

// Searcher is the federated archive.Searcher: a search whose scope names
// peers asks them in parallel while the local archive answers, and merges
// the answers (local first, de-duplicated by StudyInstanceUID, each
// result marked with its holding gateway and its provenance); a Warning
// names each peer that failed. The local results are never encoded here:
// the DICOMweb handler encodes the merged answer once.
type Searcher struct {
	fed    *Service
	local  archive.Searcher
	allow  func(context.Context) error
	asking func(context.Context) Asking
}

var _ archive.Searcher = (*Searcher)(nil)

// Searcher returns the federated searcher over local (the archive).
// allow refuses an asker who may not fan out (nil: everyone may); asking
// names, from a request's context, who asks, as peers are told.
func (s *Service) Searcher(local archive.Searcher, allow func(context.Context) error, asking func(context.Context) Asking) *Searcher {
	return &Searcher{fed: s, local: local, allow: allow, asking: asking}
}

// Search answers q within scope: the local archive alone when the scope
// names no peers ("false", "none" or "0" among them), else the archive
// and the peers, each peer under the per-peer deadline. A query's limit
// bounds each gateway's part and the merged answer.
func (f *Searcher) Search(ctx context.Context, q archive.Query, scope archive.Scope) (*archive.Result, error) {
	if !scope.Federated {
		return f.local.Search(ctx, q, scope)
	}
	switch strings.ToLower(strings.TrimSpace(scope.Peers)) {
	case "false", "none", "0":
		return f.local.Search(ctx, q, archive.Scope{})
	}
	if f.allow != nil {
		if err := f.allow(ctx); err != nil {
			return nil, err
		}
	}
	peers, err := f.fed.Scope(scope.Peers)
	if err != nil {
		return nil, err
	}
	var who Asking
	if f.asking != nil {
		who = f.asking(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan []Answer, 1)
	go func() { done <- f.fed.Search(ctx, peers, scope.Params, who) }()
	res, err := f.local.Search(ctx, q, archive.Scope{})
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	return f.fed.mergeResult(res, <-done, scope.Base, q.Limit)
}

// mergeResult merges the peers' answers into the local result (Merge's
// rules): the local data sets are marked in place, the peers' results are
// encoded into res.Remote, and limit, when positive, bounds the whole.
func (s *Service) mergeResult(res *archive.Result, answers []Answer, root string, limit int) (*archive.Result, error) {
	seen := make(map[string]bool, len(res.Items))
	local := res.Items[:0]
	for _, ds := range res.Items {
		uid, ok := localUID(ds)
		if !ok || seen[uid] {
			continue
		}
		seen[uid] = true
		s.markLocal(ds)
		local = append(local, ds)
	}
	res.Items = local
	items, warnings := s.mergePeers(seen, answers, root)
	if limit > 0 && len(res.Items)+len(items) > limit {
		if len(res.Items) > limit {
			res.Items = res.Items[:limit]
		}
		items = items[:limit-len(res.Items)]
		if !res.More {
			warnings = append(warnings, `299 gateway "There are additional results that can be requested"`)
		}
	}
	res.Remote = make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("encode result of peer: %w", err)
		}
		res.Remote = append(res.Remote, b)
	}
	res.Warnings = append(res.Warnings, warnings...)
	return res, nil
}
