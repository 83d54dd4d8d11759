package federation

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Provenance: the holding gateway signs every answer it gives a peer, in
// the X-Imgcloud-Provenance trailer (sent after the body, so that large
// answers are hashed while they stream and never held whole):
//
//	X-Imgcloud-Provenance: holder="shanghai";sha-256=:BASE64:;sig=:BASE64:
//
// The signature is Ed25519, by the holder's key, over the lines
//
//	imgcloud-provenance/1
//	holder: shanghai
//	nonce: <the nonce of the asking request's signature>
//	target: GET /dicomweb/studies/1.2.3/series/4.5/instances/6.7
//	status: 200
//	content-type: multipart/related; type="application/dicom"; boundary=...
//	sha-256: <hex of the body's SHA-256>
//
// The nonce binds the answer to one signed request, so an old answer
// cannot be replayed; the target names the study, series and instance
// (or the query); the hash covers every byte, recognition tags included.

// provenanceBase builds the signed lines.
func provenanceBase(holder, nonce, target string, status int, contentType string, sum []byte) []byte {
	return []byte("imgcloud-provenance/1\nholder: " + holder + "\nnonce: " + nonce + "\ntarget: " + target +
		"\nstatus: " + strconv.Itoa(status) + "\ncontent-type: " + contentType + "\nsha-256: " + hex.EncodeToString(sum))
}

// Target is how requests are named in provenance: the method, the escaped
// path and the raw query.
func Target(r *http.Request) string {
	t := r.Method + " " + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		t += "?" + r.URL.RawQuery
	}
	return t
}

// SignProvenance returns the X-Imgcloud-Provenance value for an answer
// this gateway gives to the peer request r.
func (s *Service) SignProvenance(r *http.Request, status int, contentType string, sum []byte) string {
	base := provenanceBase(s.opt.Name, RequestNonce(r), Target(r), status, contentType, sum)
	sig := ed25519.Sign(s.opt.Key, base)
	return fmt.Sprintf("holder=%q;sha-256=:%s:;sig=:%s:", s.opt.Name,
		base64.StdEncoding.EncodeToString(sum), base64.StdEncoding.EncodeToString(sig))
}

// errProvenance is wrapped in PeerError details.
var errProvenance = errors.New("provenance")

// verifyProvenance checks a provenance trailer from peer for an answer to
// the request (nonce, target) with the given status, type and body hash.
func verifyProvenance(peer Peer, value, nonce, target string, status int, contentType string, sum []byte) error {
	if value == "" {
		return fmt.Errorf("%w: no %s trailer", errProvenance, HeaderProvenance)
	}
	var holder string
	var claimed, sig []byte
	for _, kv := range strings.Split(value, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("%w: malformed trailer", errProvenance)
		}
		switch k {
		case "holder":
			h, err := strconv.Unquote(v)
			if err != nil {
				return fmt.Errorf("%w: malformed holder", errProvenance)
			}
			holder = h
		case "sha-256", "sig":
			if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
				return fmt.Errorf("%w: malformed %s", errProvenance, k)
			}
			b, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
			if err != nil {
				return fmt.Errorf("%w: malformed %s", errProvenance, k)
			}
			if k == "sig" {
				sig = b
			} else {
				claimed = b
			}
		}
	}
	switch {
	case holder != peer.Name:
		return fmt.Errorf("%w: signed by %q, not %q", errProvenance, truncate(holder, 40), peer.Name)
	case string(claimed) != string(sum):
		return fmt.Errorf("%w: content hash differs from the signed one (altered on the way)", errProvenance)
	case !ed25519.Verify(peer.PublicKey, provenanceBase(holder, nonce, target, status, contentType, sum), sig):
		return fmt.Errorf("%w: signature does not verify", errProvenance)
	}
	return nil
}

// hashingBody reads a peer's answer, hashing every byte and refusing more
// than max.
type hashingBody struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	max  int64
	done bool // EOF seen
}

func newHashingBody(r io.Reader, max int64) *hashingBody {
	return &hashingBody{r: r, h: sha256.New(), max: max}
}

// errTooLarge: the answer exceeds the configured limit.
var errTooLarge = errors.New("answer too large")

func (b *hashingBody) Read(p []byte) (int, error) {
	if b.n >= b.max && b.max > 0 {
		// Allow one more byte to tell "exactly max" from "more".
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", errTooLarge, b.max)
		}
		if err == io.EOF {
			b.done = true
		}
		return 0, err
	}
	if b.max > 0 && int64(len(p)) > b.max-b.n {
		p = p[:b.max-b.n]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}
