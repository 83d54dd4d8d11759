package access

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/imgcloud/gateway/auth"
)

// Role sets used by the rules of several adapters.
var (
	// Readers read studies through DICOMweb (not a PACS, which stores).
	Readers = []auth.Role{auth.RoleAdmin, auth.RoleClinician, auth.RolePeer, auth.RolePatient}
	// Staff are the people of a hospital and the operators.
	Staff = []auth.Role{auth.RoleAdmin, auth.RoleClinician}
	// Admins are the operators only.
	Admins = []auth.Role{auth.RoleAdmin}
)

// Share says how a share-link session (a principal scoped to one study)
// may use a route.
type Share int

const (
	// ShareNever: the route is closed to share sessions (the zero value).
	ShareNever Share = iota
	// ShareStudy: open when the route's :study parameter is the session's
	// study.
	ShareStudy
	// ShareQuery: open when the query names exactly the session's study
	// under Rule.StudyQuery[0] and gives none of the other names.
	ShareQuery
	// ShareSession: the session's own API (its facts, its zip).
	ShareSession
)

// Rule says who may call one route.
type Rule struct {
	// Public routes need no credentials (a principal sent is still read).
	Public bool
	// Roles may call the route; an empty list with Public false is nobody.
	Roles []auth.Role
	// Share opens the route to share sessions (see Share).
	Share Share
	// StudyQuery, for ShareQuery, names the query parameters that can
	// name a study: the first must name the session's study alone, the
	// others (aliases that could widen the query) must be absent.
	StudyQuery []string
	// Download marks routes that hand out DICOM data rather than
	// pictures: a share session may call them only when its share allows
	// downloading.
	Download bool
	// PictureQuery, on a Download route, names the query parameter that
	// picks the media type (WADO-URI's contentType): a call whose every
	// value lists image types only (image/jpeg, image/*, ...) is viewing,
	// not downloading. Absent, the call stays a download: the route's
	// default may be DICOM (for objects without pixel data).
	PictureQuery string
}

// Rules map "METHOD pattern" to a rule, the pattern as the router names
// it (echo's c.Path(), "/dicomweb/studies/:study/metadata"). The method
// "*" stands for any method. Each HTTP adapter declares the rules of the
// routes it registers.
type Rules map[string]Rule

// Policy is the gateway's route policy: the union of the adapters' rules.
// The rule of a route is its "METHOD pattern" entry, else its "* pattern"
// entry; a route with neither is refused to everyone (default deny).
type Policy struct {
	rules Rules
}

// NewPolicy joins the rules of each adapter; a route named twice is an
// error (two adapters would disagree on who may call it).
func NewPolicy(sets ...Rules) (*Policy, error) {
	all := Rules{}
	for _, set := range sets {
		for k, r := range set {
			if _, dup := all[k]; dup {
				return nil, fmt.Errorf("access rule %q is declared twice", k)
			}
			if m, p, ok := strings.Cut(k, " "); !ok || m == "" || !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("access rule %q: want \"METHOD /pattern\"", k)
			}
			all[k] = r
		}
	}
	return &Policy{rules: all}, nil
}

// Rule returns the rule of a route: default deny means ok is false for a
// route nobody declared.
func (p *Policy) Rule(method, route string) (Rule, bool) {
	if r, ok := p.rules[method+" "+route]; ok {
		return r, true
	}
	r, ok := p.rules["* "+route]
	return r, ok
}

// Uncovered lists the routes ("METHOD pattern") that have no rule. The
// server refuses to start with any (Cover), and the route walk tests it.
func (p *Policy) Uncovered(routes []string) []string {
	var out []string
	for _, k := range routes {
		m, route, _ := strings.Cut(k, " ")
		if _, ok := p.Rule(m, route); !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Cover returns an error naming every route without a rule: a route added
// without saying who may call it stops the start, instead of answering
// 403 to everyone in production.
func (p *Policy) Cover(routes []string) error {
	if u := p.Uncovered(routes); len(u) > 0 {
		return fmt.Errorf("routes without an access rule (declare who may call them): %s", strings.Join(u, ", "))
	}
	return nil
}

// Call is one request as the policy sees it.
type Call struct {
	Method string
	// Route is the router's pattern of the request ("" when none matched).
	Route string
	// Study is the route's :study parameter, if any.
	Study string
	Query url.Values
	// Path and RawPath are the request's URL path as sent.
	Path, RawPath string
}

// Authorize is the route rule: the route must have a rule (default deny),
// the principal's role must be one the rule names, and a share session
// must stay within its study and its share's permission. Refusals wrap
// auth.ErrForbidden.
func (p *Policy) Authorize(pr auth.Principal, c Call) error {
	r, ok := p.Rule(c.Method, c.Route)
	if !ok {
		return fmt.Errorf("%w: %s %s is not open to anyone", auth.ErrForbidden, c.Method, c.Route)
	}
	// A share session never walks paths: refused even on public routes,
	// before the router's reading of them matters.
	if pr.Scope != "" && (c.RawPath != "" || strings.Contains(c.Path, "/../") || strings.Contains(c.Path, "//")) {
		return fmt.Errorf("%w: a share link opens one study only", auth.ErrForbidden)
	}
	if r.Public {
		return nil
	}
	if !slices.Contains(r.Roles, pr.Role) {
		return fmt.Errorf("%w: role %q may not %s %s", auth.ErrForbidden, pr.Role, c.Method, c.Route)
	}
	return shareScope(pr, r, c)
}

// Prefix returns rules with prefix put before each pattern, for an
// adapter whose routes are mounted on a group.
func Prefix(prefix string, rules Rules) Rules {
	out := make(Rules, len(rules))
	for k, r := range rules {
		m, p, _ := strings.Cut(k, " ")
		out[m+" "+prefix+p] = r
	}
	return out
}
