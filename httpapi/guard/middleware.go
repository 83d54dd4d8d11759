// Package guard is the per-request middleware: authentication, then the
// route policy (package access decides, guard asks it with the route
// echo matched), per-token rate limits, security headers and the audit
// event of every request that touches patient data.
package guard

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/internal/ratelimit"
)

// Options configure the middleware.
type Options struct {
	Auth *auth.Authenticator
	// Policy decides who may call each route (server.Policy); with Auth
	// set and no Policy every route is refused.
	Policy *access.Policy
	// Audit receives one event per request under the audited prefixes.
	Audit *audit.Log
	// RatePerSecond and Burst limit each token (or each address when
	// unauthenticated); 0 disables the limit.
	RatePerSecond float64
	Burst         int
	// FailRatePerSecond and FailBurst limit, per client address, the
	// requests that fail authentication or authorisation (401, 403) and
	// the anonymous ones that fail otherwise: an address whose bucket is
	// empty is answered 429 before any authentication work, whoever it
	// claims to be, and its refusals are audited as one summary event per
	// period (audit.Log.Refused), not one event each. 0 disables it.
	FailRatePerSecond float64
	FailBurst         int
	// Replicas, when set, returns how many gateways share the limits
	// (replicas behind one address): each then allows its part
	// (ratelimit.Keyed.Split). It is called on every request: keep it
	// cheap (an atomic read).
	Replicas func() int
	// PersonKeyOf resolves the person key of a study for audit events
	// (optional).
	PersonKeyOf func(study string) string
}

// audited are the path prefixes whose requests touch patient data.
var audited = []string{"/dicomweb/", "/api/v1/", "/s/"}

// Middleware returns the access middleware. Mount it with e.Use (not
// e.Pre): echo runs Use middleware after routing, so the route pattern
// the policy is keyed on (c.Path()) is known.
func Middleware(opt Options) echo.MiddlewareFunc {
	var routes routeSet
	lim := newLimiters(opt.RatePerSecond, opt.Burst)
	fails := newLimiters(opt.FailRatePerSecond, opt.FailBurst)
	failRetry := time.Second
	if opt.FailRatePerSecond > 0 && opt.FailRatePerSecond < 1 {
		failRetry = time.Duration(math.Ceil(1/opt.FailRatePerSecond)) * time.Second
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")

			req := c.Request()
			ip, now := c.RealIP(), time.Now()
			if opt.Replicas != nil {
				n := opt.Replicas()
				for _, l := range []*ratelimit.Keyed{lim, fails} {
					if l != nil {
						l.Split(n, now)
					}
				}
			}
			audited := opt.Audit != nil && isAudited(req.URL.Path) && req.Method != http.MethodOptions
			// Health probes stay answered: a flood from the address of a
			// load balancer must not get the gateway taken out of service.
			probe := req.URL.Path == "/healthz" || req.URL.Path == "/readyz"
			// A valid credential still passes an empty failure bucket, so
			// that a flood from behind a hospital's NAT (one address for
			// everyone) does not lock out its own clinicians: it costs a
			// token check, never a disk write.
			if fails != nil && !probe && fails.Empty(failKey(ip), now) && !authenticates(opt.Auth, req) {
				c.Error(&ratelimit.Error{RetryAfter: failRetry, Msg: fmt.Sprintf(
					"too many failed or unauthenticated requests from your address; retry after %.0f s", failRetry.Seconds())})
				if audited {
					opt.Audit.Refused(ip, now)
				}
				return nil
			}
			var err error
			if opt.Auth != nil {
				err = check(c, opt.Auth, opt.Policy, &routes)
			}
			p, _ := auth.FromContext(c.Request().Context())
			if err == nil && lim != nil {
				key := "ip:" + c.RealIP()
				if p.TokenID != "" {
					key = "tok:" + p.TokenID
				} else if p.User != "" {
					key = "user:" + string(p.Role) + ":" + p.User
				}
				if !lim.Allow(key, now) {
					err = &ratelimit.Error{RetryAfter: time.Second, Msg: "rate limit exceeded; slow down"}
				}
			}
			// Patient data is not served unaudited: when the trail cannot
			// be written (disk almost full), the request is refused.
			if err == nil && audited {
				if werr := opt.Audit.Writable(); werr != nil {
					err = fmt.Errorf("audit trail cannot be written: %w", werr)
				}
			}
			if err != nil {
				if errors.Is(err, auth.ErrUnauthenticated) {
					h.Set("WWW-Authenticate", `Bearer realm="gateway"`)
				}
				c.Error(err)
			} else if err = next(c); err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			if fails != nil && (status == http.StatusUnauthorized || status == http.StatusForbidden || p.Role == "" && status >= 400) {
				fails.Allow(failKey(ip), now)
			}
			switch {
			case !audited:
			case status == http.StatusTooManyRequests && err != nil:
				// Counted, not itemised: refusals cost no disk each.
				opt.Audit.Refused(strings.TrimSpace(ip+" "+actorOf(p)), now)
			default:
				opt.Audit.Record(event(c, p, opt.PersonKeyOf))
			}
			return nil
		}
	}
}

// authenticates reports whether r carries a valid credential.
func authenticates(a *auth.Authenticator, r *http.Request) bool {
	if a == nil {
		return false
	}
	_, err := a.Authenticate(r)
	return err == nil
}

// check authenticates the request unless its route is public, then asks
// the policy. Refusals carry the principal too, so that the audit trail
// names who was refused. A request no route matched (echo answers 404 or
// 405) needs credentials, then goes on to that answer.
func check(c echo.Context, a *auth.Authenticator, pol *access.Policy, routes *routeSet) error {
	req := c.Request()
	if req.Method == http.MethodOptions {
		return nil // CORS preflights carry no credentials
	}
	if pol == nil {
		return fmt.Errorf("%w: no route policy", auth.ErrForbidden)
	}
	call := access.Call{Method: req.Method, Route: c.Path(), Study: c.Param("study"),
		Query: c.QueryParams(), Path: req.URL.Path, RawPath: req.URL.RawPath}
	known := routes.has(c)
	if !known {
		// No route matched: a path the policy names literally (/metrics
		// with metrics off) keeps its rule, so that a refusal does not
		// tell whether the route is mounted.
		call.Route = req.URL.Path
	}
	rule, ok := pol.Rule(req.Method, call.Route)
	if ok && rule.Public {
		// Public routes still see a principal when one is sent (and a
		// share session's limits still hold).
		p, err := a.Authenticate(req)
		if err != nil {
			return nil
		}
		c.SetRequest(req.WithContext(auth.WithPrincipal(req.Context(), p)))
		return pol.Authorize(p, call)
	}
	p, err := a.Authenticate(req)
	if err != nil {
		return err
	}
	c.SetRequest(req.WithContext(auth.WithPrincipal(req.Context(), p)))
	if !ok && !known {
		return nil // echo's 404 or 405
	}
	return pol.Authorize(p, call)
}

// routeSet is the set of routes a router has, read once at the first
// request (all routes are registered before serving).
type routeSet struct {
	once sync.Once
	set  map[string]bool
}

// has reports whether the request matched a registered route, as opposed
// to echo's not-found or method-not-allowed answer.
func (s *routeSet) has(c echo.Context) bool {
	s.once.Do(func() {
		s.set = map[string]bool{}
		for _, r := range c.Echo().Routes() {
			s.set[r.Method+" "+r.Path] = true
		}
	})
	return s.set[c.Request().Method+" "+c.Path()]
}

// failKey is the failure bucket of a client address: the address, or for
// IPv6 its /64, since one client holds a whole /64 and could otherwise
// take a fresh bucket per request.
func failKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func isAudited(path string) bool {
	for _, p := range audited {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func actorOf(p auth.Principal) string {
	if p.User == "" && p.TokenID != "" {
		return "token:" + p.TokenID
	}
	return p.User
}

func event(c echo.Context, p auth.Principal, personKeyOf func(string) string) audit.Event {
	actor := actorOf(p)
	route := c.Path()
	if route == "" {
		route = c.Request().URL.Path
	}
	e := audit.Event{
		Time: time.Now().UTC(), Actor: actor, Role: string(p.Role), Institution: p.Institution,
		Study: c.Param("study"), Series: c.Param("series"), Instance: c.Param("sop"),
		Action: c.Request().Method + " " + route, Outcome: c.Response().Status,
		Source: c.RealIP(), RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	if n, ok := c.Get(noteKey).(Note); ok {
		e.Detail = n.Detail
		if e.Study == "" {
			e.Study = n.Study
		}
	}
	if e.Study == "" {
		e.Study = c.QueryParam("studyUID")
	}
	if p.PersonKey != "" {
		e.PersonKey = p.PersonKey
	} else if e.Study != "" && personKeyOf != nil {
		e.PersonKey = personKeyOf(e.Study)
	}
	return e
}

// Note is what a handler adds to its request's audit event: the study it
// touched when the route does not name it, and a detail such as
// "share open ok" (never a secret: no tokens, PINs or patient names).
type Note struct {
	Study  string
	Detail string
}

const noteKey = "access.note"

// SetNote attaches n to the request's audit event.
func SetNote(c echo.Context, n Note) { c.Set(noteKey, n) }

// newLimiters returns the per-key request limits (nil: unlimited); a
// key idle for 10 minutes starts again with a full bucket.
func newLimiters(perSecond float64, burst int) *ratelimit.Keyed {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = int(perSecond) * 2
	}
	return ratelimit.New(perSecond, burst, 10*time.Minute)
}
