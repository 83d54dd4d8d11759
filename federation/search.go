package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"
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

// DecodeLocal decodes this gateway's own QIDO-RS answer for Merge.
func DecodeLocal(b []byte) ([]Item, error) {
	var items []Item
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("decode local answer: %w", err)
	}
	return items, nil
}
