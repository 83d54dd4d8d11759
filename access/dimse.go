package access

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/imgcloud/gateway/auth"
)

// Operation is what a DICOM application entity may do over DIMSE.
type Operation string

// Operations of the AE registry's allow list.
const (
	OpStore    Operation = "store"    // C-STORE into the archive
	OpQuery    Operation = "query"    // C-FIND
	OpRetrieve Operation = "retrieve" // C-MOVE, C-GET
)

// ErrOperationNotAllowed refuses a DIMSE operation an AE's entry does not
// allow.
var ErrOperationNotAllowed = errors.New("operation not allowed for this AE")

// ErrTLSRequired refuses an association of an AE marked tls that did not
// come over DICOM TLS with a verified client certificate.
var ErrTLSRequired = errors.New("AE requires DICOM TLS with a client certificate")

// AE is a known DICOM application entity (the --dicom-aes file: a YAML
// list of {aet, host, port, institution, allow, tls}).
type AE struct {
	AET         string      `yaml:"aet" json:"aet"`
	Host        string      `yaml:"host" json:"host"`
	Port        int         `yaml:"port" json:"port,omitempty"`
	Institution string      `yaml:"institution" json:"institution"`
	Allow       []Operation `yaml:"allow" json:"allow"`
	TLS         bool        `yaml:"tls" json:"tls,omitempty"`
}

// Allows reports whether the entry allows op.
func (ae AE) Allows(op Operation) bool { return slices.Contains(ae.Allow, op) }

// Principal is who an AE acts as for op, through the same rules as a
// token of its institution: storing, it is a PACS of its institution (the
// PACS identity rule of Admission applies); querying or retrieving, it is
// a clinician of its institution (the visibility rule applies). An
// operation the entry does not allow is ErrOperationNotAllowed.
func (ae AE) Principal(op Operation) (auth.Principal, error) {
	if !ae.Allows(op) {
		return auth.Principal{}, fmt.Errorf("%w: AE %s may %v, not %s", ErrOperationNotAllowed, ae.AET, ae.Allow, op)
	}
	role := auth.RoleClinician
	if op == OpStore {
		role = auth.RolePACS
	}
	return auth.Principal{Role: role, Institution: ae.Institution, User: "ae:" + ae.AET}, nil
}

// CommitPrincipal is who an AE acts as when it asks for Storage
// Commitment: it needs the store allowance, and it learns of an instance
// only what a clinician of its institution may see (the visibility rule),
// so that a commitment request is no oracle for other institutions'
// studies.
func (ae AE) CommitPrincipal() (auth.Principal, error) {
	if !ae.Allows(OpStore) {
		return auth.Principal{}, fmt.Errorf("%w: AE %s may %v, not store (storage commitment)", ErrOperationNotAllowed, ae.AET, ae.Allow)
	}
	return auth.Principal{Role: auth.RoleClinician, Institution: ae.Institution, User: "ae:" + ae.AET}, nil
}

// CheckTransport is the transport rule of an AE marked tls (PS3.15 B.1):
// its associations come over the DICOM TLS port with a client
// certificate the gateway verified against its client CAs. Other AEs may
// use either port.
func (ae AE) CheckTransport(overTLS, clientVerified bool) error {
	switch {
	case !ae.TLS:
		return nil
	case !overTLS:
		return fmt.Errorf("%w: AE %s must use the DICOM TLS port", ErrTLSRequired, ae.AET)
	case !clientVerified:
		return fmt.Errorf("%w: AE %s sent no client certificate the gateway trusts", ErrTLSRequired, ae.AET)
	}
	return nil
}

// AEs is the registry of known AEs: an association is accepted only from
// a calling AE title whose entry names the source address.
type AEs struct {
	// mu lets the admin API replace the entries while associations
	// look them up (AEDirectory).
	mu   sync.RWMutex
	list []AE
	ips  [][]net.IP // resolved hosts, by entry
}

// NewAEs checks the entries and resolves their hosts once.
func NewAEs(list []AE) (*AEs, error) {
	r := &AEs{}
	seen := map[string]bool{}
	for i, ae := range list {
		ae.AET = strings.TrimSpace(ae.AET)
		switch {
		case ae.AET == "" || len(ae.AET) > 16:
			return nil, fmt.Errorf("AE entry %d: aet %q must be 1 to 16 characters", i+1, ae.AET)
		case ae.Host == "":
			return nil, fmt.Errorf("AE %s: host is required (the address its associations come from)", ae.AET)
		case ae.Institution == "":
			return nil, fmt.Errorf("AE %s: institution is required", ae.AET)
		case ae.Port < 0 || ae.Port > 65535:
			return nil, fmt.Errorf("AE %s: port %d out of range", ae.AET, ae.Port)
		}
		for _, op := range ae.Allow {
			if op != OpStore && op != OpQuery && op != OpRetrieve {
				return nil, fmt.Errorf("AE %s: allow %q is none of store, query, retrieve", ae.AET, op)
			}
		}
		key := ae.AET + "@" + ae.Host
		if seen[key] {
			return nil, fmt.Errorf("AE %s on %s is listed twice", ae.AET, ae.Host)
		}
		seen[key] = true
		var ips []net.IP
		if ip := net.ParseIP(ae.Host); ip != nil {
			ips = []net.IP{ip}
		} else {
			addrs, err := net.LookupHost(ae.Host)
			if err != nil {
				return nil, fmt.Errorf("AE %s: resolve host %s: %w", ae.AET, ae.Host, err)
			}
			for _, a := range addrs {
				ips = append(ips, net.ParseIP(a))
			}
		}
		r.list = append(r.list, ae)
		r.ips = append(r.ips, ips)
	}
	return r, nil
}

// ParseAEs reads the YAML list of the --dicom-aes file; unknown keys are
// errors, so that a typo does not silently drop a rule.
func ParseAEs(data []byte) ([]AE, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var list []AE
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("parse AE list: %w", err)
	}
	return list, nil
}

// Lookup finds the entry of a calling AE title connecting from ip.
func (r *AEs) Lookup(aet string, ip net.IP) (AE, bool) {
	if r == nil {
		return AE{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, ae := range r.list {
		if ae.AET != aet {
			continue
		}
		for _, h := range r.ips[i] {
			if h.Equal(ip) {
				return ae, true
			}
		}
	}
	return AE{}, false
}

// Len is the number of entries.
func (r *AEs) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.list)
}

// Destination finds a C-MOVE destination by AE title: the first entry
// with that title and a port to connect to.
func (r *AEs) Destination(aet string) (AE, bool) {
	if r == nil {
		return AE{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ae := range r.list {
		if ae.AET == aet && ae.Port > 0 {
			return ae, true
		}
	}
	return AE{}, false
}
