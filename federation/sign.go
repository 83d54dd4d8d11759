package federation

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Asking is who a federated request is for: the institution and the
// clinician at the asking gateway. The answering gateway applies its
// consent rules and computes recognition tags for that institution, and
// audits the clinician.
type Asking struct {
	Institution string
	User        string
}

// Signer signs this gateway's requests to peers.
type Signer struct {
	Name string // key id: this gateway's name in the peers' files
	Key  ed25519.PrivateKey
	Now  func() time.Time
}

// Sign adds Date, Content-Digest, the asking headers, the receiver's name
// (to: the peer's name in this gateway's peers file), Signature-Input and
// Signature to r, a request without a body for r.URL's host, and returns
// the nonce it used (the holding gateway signs its answer over it).
func (s *Signer) Sign(r *http.Request, to string, who Asking) (string, error) {
	if r.Body != nil && r.Body != http.NoBody {
		return "", errors.New("sign: requests to peers carry no body")
	}
	if to == "" || r.URL.Host == "" {
		return "", errors.New("sign: a request to a peer names the peer and its host")
	}
	var nb [18]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return "", fmt.Errorf("sign: nonce: %w", err)
	}
	nonce := base64.RawURLEncoding.EncodeToString(nb[:])
	now := s.Now()
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	r.Header.Set(HeaderContentDigest, contentDigest(nil))
	r.Header.Set(HeaderInstitution, who.Institution)
	r.Header.Set(HeaderUser, url.QueryEscape(who.User))
	r.Header.Set(HeaderTo, to)
	params := formatParams(now.Unix(), s.Name, nonce)
	base, err := signatureBase(r, normAuthority(r.URL.Host), covered, params)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	sig := ed25519.Sign(s.Key, []byte(base))
	r.Header.Set(HeaderSignatureInput, sigLabel+"="+params)
	r.Header.Set(HeaderSignature, sigLabel+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nonce, nil
}
