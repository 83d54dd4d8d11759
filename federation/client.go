package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// call is one signed request to a peer and what is needed to check the
// answer's provenance.
type call struct {
	peer   Peer
	nonce  string
	target string
	resp   *http.Response
}

// get sends a signed GET for rel (a path below the peer's service root,
// e.g. "/studies") with query to peer. A non-200 answer is a PeerError.
func (s *Service) get(ctx context.Context, peer Peer, rel string, query url.Values, accept string, who Asking) (*call, error) {
	u, err := url.Parse(peer.URL + rel)
	if err != nil {
		return nil, &PeerError{Peer: peer.Name, Kind: KindInvalid, Detail: "bad request path"}
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &PeerError{Peer: peer.Name, Kind: KindInvalid, Detail: "bad request"}
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "imgcloud-gateway-federation/1")
	nonce, err := s.signer.Sign(req, peer.Name, who)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, classify(ctx, peer, err)
	}
	c := &call{peer: peer, nonce: nonce, target: Target(req), resp: resp}
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return nil, &PeerError{Peer: peer.Name, Kind: KindStatus, Status: resp.StatusCode}
	}
	return c, nil
}

// classify turns a transport error into a PeerError.
func classify(ctx context.Context, peer Peer, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &PeerError{Peer: peer.Name, Kind: KindTimeout}
	case errors.Is(ctx.Err(), context.Canceled):
		return &PeerError{Peer: peer.Name, Kind: KindCanceled}
	case errors.Is(err, errTooLarge):
		return &PeerError{Peer: peer.Name, Kind: KindInvalid, Detail: err.Error()}
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return &PeerError{Peer: peer.Name, Kind: KindUnreachable, Detail: op.Op + " " + shortErr(op.Err)}
	}
	return &PeerError{Peer: peer.Name, Kind: KindUnreachable, Detail: shortErr(err)}
}

// shortErr keeps the last part of an error chain, without addresses.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return truncate(s, 80)
}

// drain reads a little of an unwanted body so the connection can be
// reused, then closes it.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}

// mediaTypes are the content types a peer may answer with: DICOMweb's.
var mediaTypes = map[string]bool{
	"application/dicom+json": true, "application/json": true, "multipart/related": true,
	"application/dicom": true, "application/octet-stream": true,
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/jp2": true, "image/jls": true,
}

// checkContentType validates a peer's Content-Type: one of DICOMweb's
// media types, parseable, short. It returns the media type.
func checkContentType(peer Peer, ct string) (string, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(ct) > 512 || !mediaTypes[mt] {
		return "", &PeerError{Peer: peer.Name, Kind: KindInvalid, Detail: fmt.Sprintf("unexpected content type %q", truncate(ct, 60))}
	}
	return mt, nil
}

// IsJSON reports whether a media type is a JSON one.
func IsJSON(mediaType string) bool {
	return mediaType == "application/dicom+json" || mediaType == "application/json"
}
