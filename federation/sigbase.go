package federation

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Headers of requests between gateways.
const (
	// HeaderInstitution carries the asking institution id (signed).
	HeaderInstitution = "X-Imgcloud-Institution"
	// HeaderUser carries the asking clinician, URL-query-escaped (signed).
	HeaderUser = "X-Imgcloud-User"
	// HeaderTo names the gateway a request is for, its name in the
	// asker's peers file (signed): another gateway that trusts the same
	// key refuses it.
	HeaderTo = "X-Imgcloud-To"
	// HeaderProvenance is the trailer in which the holding gateway signs
	// what it served (see provenance.go).
	HeaderProvenance = "X-Imgcloud-Provenance"
	// HeaderSignatureInput and HeaderSignature are RFC 9421's.
	HeaderSignatureInput = "Signature-Input"
	HeaderSignature      = "Signature"
	// HeaderContentDigest is RFC 9530's.
	HeaderContentDigest = "Content-Digest"

	sigLabel = "fed"
	sigAlg   = "ed25519"
)

// covered are the components every request signature must cover
// (RFC 9421 section 2): method, authority, path, query, Date, the body
// digest, who is asking and which gateway is asked. A signature without
// the authority and the receiver (as made before they were covered) is
// refused: a request captured on its way to one gateway must not be
// replayed at another that trusts the same key.
var covered = []string{"@method", "@authority", "@path", "@query", "date", "content-digest", "x-imgcloud-institution", "x-imgcloud-user", "x-imgcloud-to"}

// sigParams are the parsed parameters of a Signature-Input member.
type sigParams struct {
	components []string
	created    int64
	keyID      string
	alg        string
	nonce      string
	raw        string // the serialised inner list and parameters, as received
}

// formatParams serialises the signature parameters (RFC 9421 2.3).
func formatParams(created int64, keyID, nonce string) string {
	q := make([]string, len(covered))
	for i, c := range covered {
		q[i] = strconv.Quote(c)
	}
	return fmt.Sprintf("(%s);created=%d;keyid=%q;alg=%q;nonce=%q", strings.Join(q, " "), created, keyID, sigAlg, nonce)
}

// parseSignatureInput reads the "fed" member of a Signature-Input header.
// It accepts only what this package writes: a list of quoted component
// names, then created, keyid, alg and nonce parameters.
func parseSignatureInput(h string) (sigParams, error) {
	var p sigParams
	var member string
	for _, m := range strings.Split(h, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(m), "="); ok && k == sigLabel {
			member = v
		}
	}
	// Component names never hold commas, so splitting on them above is
	// safe for the member we read.
	if member == "" {
		return p, errors.New("no \"fed\" signature")
	}
	p.raw = member
	if !strings.HasPrefix(member, "(") {
		return p, errors.New("signature input is not an inner list")
	}
	end := strings.IndexByte(member, ')')
	if end < 0 {
		return p, errors.New("unterminated component list")
	}
	for _, c := range strings.Fields(member[1:end]) {
		name, err := strconv.Unquote(c)
		if err != nil || strings.ContainsAny(name, "\"\\") {
			return p, fmt.Errorf("component %s is not a quoted name", c)
		}
		p.components = append(p.components, name)
	}
	for _, kv := range strings.Split(member[end+1:], ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("parameter %q has no value", kv)
		}
		if k == "created" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return p, fmt.Errorf("created=%q is not an integer", v)
			}
			p.created = n
			continue
		}
		s, err := strconv.Unquote(v)
		if err != nil {
			return p, fmt.Errorf("parameter %s is not a quoted string", k)
		}
		switch k {
		case "keyid":
			p.keyID = s
		case "alg":
			p.alg = s
		case "nonce":
			p.nonce = s
		}
	}
	for _, c := range covered {
		if !slices.Contains(p.components, c) {
			return p, fmt.Errorf("signature does not cover %s", c)
		}
	}
	switch {
	case p.keyID == "":
		return p, errors.New("no keyid")
	case p.alg != "" && p.alg != sigAlg:
		return p, fmt.Errorf("alg %q is not ed25519", p.alg)
	case p.created == 0:
		return p, errors.New("no created time")
	case len(p.nonce) < 16 || len(p.nonce) > 64:
		return p, errors.New("nonce must have 16 to 64 characters")
	}
	return p, nil
}

// signatureBase builds the RFC 9421 signature base of r for the given
// components and serialised parameters. authority is the value of
// @authority: the signer's target host, or the verifier's own.
func signatureBase(r *http.Request, authority string, components []string, params string) (string, error) {
	var b strings.Builder
	for _, c := range components {
		v, err := component(r, authority, c)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%q: %s\n", c, v)
	}
	fmt.Fprintf(&b, "%q: %s", "@signature-params", params)
	return b.String(), nil
}

// component is the value of one covered component of r.
func component(r *http.Request, authority, name string) (string, error) {
	switch name {
	case "@method":
		return r.Method, nil
	case "@authority":
		if authority == "" {
			return "", errors.New("no authority to cover")
		}
		return authority, nil
	case "@path":
		if p := r.URL.EscapedPath(); p != "" {
			return p, nil
		}
		return "/", nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("component %s is not supported", name)
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return "", fmt.Errorf("header %s is covered but absent", name)
	}
	for i, v := range vals {
		vals[i] = strings.TrimSpace(v)
	}
	return strings.Join(vals, ", "), nil
}

// normAuthority is host[:port] as RFC 9421 2.2.3 covers it: lower case,
// without a default port.
func normAuthority(h string) string {
	h = strings.ToLower(h)
	for _, p := range []string{":80", ":443"} {
		if strings.HasSuffix(h, p) && !strings.HasSuffix(h, "]") {
			return strings.TrimSuffix(h, p)
		}
	}
	return h
}

// contentDigest is the RFC 9530 Content-Digest of b.
func contentDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// signatureValue extracts the bytes of the "fed" member of a Signature
// header (a byte sequence, ":base64:").
func signatureValue(h string) ([]byte, error) {
	for _, m := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(m), "=")
		if !ok || k != sigLabel {
			continue
		}
		if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
			return nil, errors.New("signature is not a byte sequence")
		}
		return base64.StdEncoding.DecodeString(v[1 : len(v)-1])
	}
	return nil, errors.New("no \"fed\" signature")
}
