package federation

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Peer is another gateway this one asks and answers.
type Peer struct {
	// Name is the peer's key id in signatures and its name in URLs
	// (/dicomweb/peers/{name}/...) and Warning headers.
	Name string `json:"name"`
	// Province is the GB/T 2260 code of the peer's province (e.g. 310000).
	Province string `json:"province"`
	// URL is the peer's DICOMweb service root, e.g.
	// https://pacs.sh.example.cn/dicomweb. It comes from configuration
	// only, never from a request.
	URL string `json:"url"`
	// PublicKey verifies the peer's request and provenance signatures.
	PublicKey ed25519.PublicKey `json:"-"`
}

// peerFile is the --peers file (YAML or JSON).
type peerFile struct {
	Peers []peerEntry `yaml:"peers"`
}

type peerEntry struct {
	Name      string `yaml:"name"`
	Province  string `yaml:"province"`
	URL       string `yaml:"url"`
	PublicKey string `yaml:"public_key"`
	line      int
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	provinceRE = regexp.MustCompile(`^[0-9]{6}$`)
)

// LoadPeers reads a peers file (YAML, or JSON which is YAML too):
//
//	peers:
//	  - name: shanghai
//	    province: "310000"
//	    url: https://imgcloud.sh.example.cn/dicomweb
//	    public_key: MCowBQYDK2VwAyEA...   # base64 of the 32-byte Ed25519 key
//
// Errors name the file and the entry's line.
func LoadPeers(path string) ([]Peer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	return ParsePeers(path, b)
}

// ParsePeers parses the contents of a peers file named name.
func ParsePeers(name string, data []byte) ([]Peer, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f peerFile
	if err := dec.Decode(&f); err != nil && len(bytes.TrimSpace(data)) > 0 {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	lines := entryLines(&root)
	seen := map[string]bool{}
	out := make([]Peer, 0, len(f.Peers))
	for i, e := range f.Peers {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		p, err := e.peer()
		if err == nil && seen[p.Name] {
			err = fmt.Errorf("peer %q is listed twice", p.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrConfig, name, line, err)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

// entryLines returns the line of each entry of the peers sequence.
func entryLines(root *yaml.Node) []int {
	if root == nil || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "peers" {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}

func (e peerEntry) peer() (Peer, error) {
	p := Peer{Name: e.Name, Province: e.Province}
	if !nameRE.MatchString(e.Name) {
		return p, fmt.Errorf("name %q: use 1-32 lower-case letters, digits and dashes", e.Name)
	}
	if !provinceRE.MatchString(e.Province) {
		return p, fmt.Errorf("peer %s: province %q must be a six-digit GB/T 2260 code such as 310000", e.Name, e.Province)
	}
	u, err := CheckURL(e.URL)
	if err != nil {
		return p, fmt.Errorf("peer %s: %v", e.Name, err)
	}
	p.URL = u
	key, err := ParsePublicKey(e.PublicKey)
	if err != nil {
		return p, fmt.Errorf("peer %s: public_key: %v", e.Name, err)
	}
	p.PublicKey = key
	return p, nil
}

// CheckURL validates a peer's service root and returns it without a
// trailing slash: http or https, a host, no credentials, query or
// fragment.
func CheckURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("url %q: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("url %q must start with http:// or https://", s)
	case u.Host == "":
		return "", fmt.Errorf("url %q has no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("url %q must be a plain service root (no credentials, query or fragment)", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// ParsePublicKey decodes a base64 (standard or URL alphabet) Ed25519
// public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%d bytes, want %d", len(b), ed25519.PublicKeySize)
			}
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

// EncodePublicKey is the form of a public key in peers files and in GET
// /api/v1/federation/identity.
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }
