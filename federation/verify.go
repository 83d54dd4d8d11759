package federation

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/imgcloud/gateway/auth"
)

// institutionRE is the shape of institution ids (see recognition).
var institutionRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// refusal is an inbound request refused, with a reason for metrics.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, err: fmt.Errorf("%w: peer request: "+format, append([]any{auth.ErrUnauthenticated}, args...)...)}
}

// Session authenticates a request signed by a peer (auth.SessionFunc). A
// request without Signature-Input is not a peer request (ok false). A
// signed one yields a principal with role peer, the ASKING institution
// (so that consent and recognition apply to it), user
// "peer:{name}/{clinician}" and token id "peer:{name}"; any failure (bad
// signature, unknown key, stale date, replay, a body) wraps
// auth.ErrUnauthenticated, so the access middleware answers 401 and
// audits the refusal.
func (s *Service) Session(r *http.Request) (auth.Principal, bool, error) {
	if r.Header.Get(HeaderSignatureInput) == "" && r.Header.Get(HeaderSignature) == "" {
		return auth.Principal{}, false, nil
	}
	peer, who, err := s.verify(r)
	name := peer.Name
	if name == "" {
		name = "unknown"
	}
	if err != nil {
		reason := "malformed"
		var rf *refusal
		if errors.As(err, &rf) {
			reason = rf.reason
		}
		s.status.inbound(name, reason)
		s.log.Warn("peer request refused", "peer", name, "reason", reason, "err", err)
		return auth.Principal{}, true, err
	}
	s.status.inbound(name, "ok")
	user := "peer:" + peer.Name
	if who.User != "" {
		user += "/" + who.User
	}
	return auth.Principal{Role: auth.RolePeer, Institution: who.Institution, User: user, TokenID: "peer:" + peer.Name}, true, nil
}

// IsPeer reports whether p was authenticated by a peer's signature, and
// names the peer.
func IsPeer(p auth.Principal) (string, bool) {
	name, ok := strings.CutPrefix(p.TokenID, "peer:")
	return name, ok && p.Role == auth.RolePeer && name != ""
}

// RequestNonce returns the nonce of a request's signature ("" if none):
// the holding gateway signs its answer over it.
func RequestNonce(r *http.Request) string {
	p, err := parseSignatureInput(r.Header.Get(HeaderSignatureInput))
	if err != nil {
		return ""
	}
	return p.nonce
}

// verify checks a signed request: parameters, key, clock, body digest,
// receiver, signature (over this gateway's authority), asking headers,
// then the replay cache (last, so that
// unauthenticated junk cannot fill it).
func (s *Service) verify(r *http.Request) (Peer, Asking, error) {
	var who Asking
	params, err := parseSignatureInput(r.Header.Get(HeaderSignatureInput))
	if err != nil {
		return Peer{}, who, refuse("malformed", "Signature-Input: %v", err)
	}
	peer, ok := s.peers[params.keyID]
	if !ok {
		return Peer{}, who, refuse("unknown_key", "unknown key id %q", truncate(params.keyID, 40))
	}
	now := s.now()
	created := time.Unix(params.created, 0)
	if d := now.Sub(created); d > s.opt.Skew || d < -s.opt.Skew {
		return peer, who, refuse("stale", "signature created %s from now, beyond the allowed skew of %s", d.Round(time.Second), s.opt.Skew)
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return peer, who, refuse("malformed", "Date header missing or invalid")
	}
	if d := now.Sub(date); d > s.opt.Skew || d < -s.opt.Skew {
		return peer, who, refuse("stale", "Date is %s from now, beyond the allowed skew of %s", d.Round(time.Second), s.opt.Skew)
	}
	if r.ContentLength != 0 { // -1: a chunked body
		return peer, who, refuse("body", "requests between gateways carry no body")
	}
	if r.Header.Get(HeaderContentDigest) != contentDigest(nil) {
		return peer, who, refuse("digest", "Content-Digest does not match the (empty) body")
	}
	if to := r.Header.Get(HeaderTo); to != s.opt.Name {
		return peer, who, refuse("receiver", "request is for gateway %q, not for this one (%s)", truncate(to, 40), s.opt.Name)
	}
	sig, err := signatureValue(r.Header.Get(HeaderSignature))
	if err != nil {
		return peer, who, refuse("malformed", "Signature: %v", err)
	}
	// The authority covered is this gateway's own (its public URL's host)
	// when configured, so that a Host header cannot be chosen to match.
	authority := s.authority
	if authority == "" {
		authority = normAuthority(r.Host)
	}
	base, err := signatureBase(r, authority, params.components, params.raw)
	if err != nil {
		return peer, who, refuse("malformed", "%v", err)
	}
	if !ed25519.Verify(peer.PublicKey, []byte(base), sig) {
		return peer, who, refuse("bad_signature", "signature does not verify with the key of peer %s for authority %s", peer.Name, truncate(authority, 80))
	}
	who.Institution = r.Header.Get(HeaderInstitution)
	if who.Institution != "" && !institutionRE.MatchString(who.Institution) {
		return peer, who, refuse("institution", "asking institution is not a valid id")
	}
	who.User, err = url.QueryUnescape(r.Header.Get(HeaderUser))
	if err != nil || len(who.User) > 128 || strings.IndexFunc(who.User, unicode.IsControl) >= 0 {
		return peer, who, refuse("malformed", "asking user is not a valid name")
	}
	if s.opt.Admit != nil && who.Institution != "" {
		if err := s.opt.Admit(peer, who.Institution); err != nil {
			return peer, who, refuse("institution", "%v", err)
		}
	}
	if err := s.nonces.add(peer.Name+"\x00"+params.nonce, now); err != nil {
		reason := "replay"
		if errors.Is(err, errCacheFull) {
			reason = "replay_cache_full"
		}
		return peer, who, refuse(reason, "%v", err)
	}
	return peer, who, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
