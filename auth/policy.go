package auth

import (
	"fmt"
	"strings"
)

// Rule says which roles may call the routes under a path prefix with a
// method ("*" for any).
type Rule struct {
	Method string
	Prefix string
	Roles  []Role
	// Public routes need no authentication at all.
	Public bool
}

// Policy is the gateway's access table: the one place that says who may
// call what. The first matching rule wins; no match is forbidden.
type Policy []Rule

// DefaultPolicy is the gateway's access table (see the README's security
// section). Data filtering (own institution, consent, share scope) happens
// in the archive, which hides what a principal may not see.
func DefaultPolicy() Policy {
	all := []Role{RoleAdmin, RoleClinician, RolePeer, RolePatient}
	return Policy{
		{Method: "GET", Prefix: "/healthz", Public: true},
		{Method: "GET", Prefix: "/readyz", Public: true},
		{Method: "*", Prefix: "/s/", Public: true}, // share links authenticate themselves
		{Method: "GET", Prefix: "/metrics", Roles: []Role{RoleAdmin}},
		{Method: "POST", Prefix: "/dicomweb/studies", Roles: []Role{RolePACS, RoleAdmin}},
		{Method: "DELETE", Prefix: "/dicomweb/", Roles: []Role{RoleAdmin}},
		// Retrieval through this gateway from a peer: never by a peer (no
		// relaying on), a patient or a share link.
		{Method: "GET", Prefix: "/dicomweb/peers/", Roles: []Role{RoleAdmin, RoleClinician}},
		{Method: "GET", Prefix: "/dicomweb/", Roles: all},
		{Method: "HEAD", Prefix: "/dicomweb/", Roles: all},
		{Method: "*", Prefix: "/api/v1/admin/", Roles: []Role{RoleAdmin}},
		{Method: "*", Prefix: "/api/v1/federation/", Roles: []Role{RolePeer, RoleAdmin}},
		{Method: "GET", Prefix: "/api/v1/me", Roles: []Role{RoleAdmin, RoleClinician, RolePeer, RolePatient, RolePACS}},
		{Method: "*", Prefix: "/api/v1/patient/", Roles: []Role{RolePatient, RoleAdmin}},
		{Method: "*", Prefix: "/api/v1/shares", Roles: []Role{RoleAdmin, RoleClinician, RolePatient}}, // + CheckScope
		{Method: "*", Prefix: "/api/v1/", Roles: []Role{RoleAdmin, RoleClinician}},
		// The viewer's static files hold no patient data.
		{Method: "GET", Prefix: "/", Public: true},
	}
}

// Match returns the rule for a request.
func (p Policy) Match(method, path string) (Rule, bool) {
	for _, r := range p {
		if (r.Method == "*" || r.Method == method || (method == "HEAD" && r.Method == "GET")) && strings.HasPrefix(path, r.Prefix) {
			return r, true
		}
	}
	return Rule{}, false
}

// Allow decides whether p may call method path.
func (p Policy) Allow(pr Principal, method, path string) error {
	r, ok := p.Match(method, path)
	if !ok {
		return fmt.Errorf("%w: %s %s is not open to anyone", ErrForbidden, method, path)
	}
	if r.Public {
		return nil
	}
	for _, role := range r.Roles {
		if pr.Role == role {
			return nil
		}
	}
	return fmt.Errorf("%w: role %q may not %s %s", ErrForbidden, pr.Role, method, path)
}
