package federation

import (
	"context"
	"errors"
	"io"
	"net/url"
	"time"
)

// Remote is a peer's answer to a retrieve, being relayed. Read Body to
// the end, then call Verify; always Close.
type Remote struct {
	// ContentType is the peer's, validated; MediaType its media type.
	ContentType string
	MediaType   string
	// Body yields the answer, hashed as it is read and bounded.
	Body io.Reader

	s      *Service
	call   *call
	body   *hashingBody
	cancel context.CancelFunc
	start  time.Time
	ctx    context.Context
	err    error
	ok     bool
	closed bool
}

// Retrieve asks peer for rel (checked with CheckRetrievePath) with query,
// for who, under RetrieveTimeout. JSON answers (metadata, searches) are
// bounded by MaxMetadataBytes, others by MaxRetrieveBytes. A non-200
// answer, a timeout or an unexpected content type is a *PeerError.
func (s *Service) Retrieve(ctx context.Context, peer Peer, rel string, query url.Values, accept string, who Asking) (*Remote, error) {
	rel, err := CheckRetrievePath(rel)
	if err != nil {
		return nil, err
	}
	release, ok := s.acquire(peer)
	if !ok {
		err := &PeerError{Peer: peer.Name, Kind: KindBusy, Detail: "too many requests in flight"}
		s.status.record(peer.Name, 0, err)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.RetrieveTimeout)
	cancelAll := func() { cancel(); release() }
	start := time.Now()
	c, err := s.get(ctx, peer, rel, query, accept, who)
	if err != nil {
		cancelAll()
		s.status.record(peer.Name, time.Since(start), err)
		return nil, err
	}
	ct := c.resp.Header.Get("Content-Type")
	mt, err := checkContentType(peer, ct)
	if err != nil {
		drain(c.resp.Body)
		cancelAll()
		s.status.record(peer.Name, time.Since(start), err)
		return nil, err
	}
	max := s.opt.MaxRetrieveBytes
	if IsJSON(mt) {
		max = s.opt.MaxMetadataBytes
	}
	hb := newHashingBody(c.resp.Body, max)
	r := &Remote{ContentType: ct, MediaType: mt, s: s, call: c, body: hb, cancel: cancelAll, start: start, ctx: ctx}
	r.Body = &remoteReader{r: r}
	return r, nil
}

// remoteReader turns read errors into PeerErrors.
type remoteReader struct{ r *Remote }

func (rr *remoteReader) Read(p []byte) (int, error) {
	n, err := rr.r.body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = classify(rr.r.ctx, rr.r.call.peer, err)
		rr.r.err = err
	}
	return n, err
}

// Verify checks the holder's provenance signature once Body has been read
// to the end.
func (r *Remote) Verify() error {
	if r.err != nil {
		return r.err
	}
	if !r.body.done {
		r.err = &PeerError{Peer: r.call.peer.Name, Kind: KindInvalid, Detail: "answer not read to the end"}
		return r.err
	}
	c := r.call
	if err := verifyProvenance(c.peer, c.resp.Trailer.Get(HeaderProvenance), c.nonce, c.target, c.resp.StatusCode, r.ContentType, r.body.h.Sum(nil)); err != nil {
		r.err = &PeerError{Peer: c.peer.Name, Kind: KindProvenance, Detail: err.Error()}
		return r.err
	}
	r.ok = true
	return nil
}

// Close ends the call and records its outcome in the peer's status.
func (r *Remote) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.call.resp.Body.Close()
	r.cancel()
	outcome := r.err
	if outcome == nil && !r.ok {
		outcome = &PeerError{Peer: r.call.peer.Name, Kind: KindCanceled}
	}
	r.s.status.record(r.call.peer.Name, time.Since(r.start), outcome)
	return err
}

// Failed records why a relay was abandoned (e.g. the client went away).
func (r *Remote) Failed(err error) {
	if r.err == nil {
		r.err = err
	}
}
