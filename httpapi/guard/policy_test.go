package guard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/records"
)

// TestUnknownPaths: a path no route matches asks for credentials first
// (401), then is echo's 404, never a public answer or a 403.
func TestUnknownPaths(t *testing.T) {
	e := start(t, 0)
	for _, c := range []struct {
		name, method, path string
		role               auth.Role
		want               int
	}{
		{"unknown API path, anonymous", "GET", "/api/v1/nothing", "", 401},
		{"unknown API path", "GET", "/api/v1/nothing", auth.RoleClinician, 404},
		{"unknown DICOMweb path, anonymous", "GET", "/dicomweb/nothing", "", 401},
		{"unknown DICOMweb path", "GET", "/dicomweb/nothing", auth.RoleClinician, 404},
		{"unknown method, anonymous", "PUT", "/dicomweb/studies", "", 401},
		{"unknown method", "PUT", "/dicomweb/studies", auth.RoleClinician, 404}, // the group's not-found route
	} {
		resp, b := e.do(t, c.method, c.path, e.tokens[c.role], nil, nil)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.want)
		}
	}
}

// TestRouteWithoutRule: a route mounted without a rule in the policy is
// refused to everyone, an admin included (default deny).
func TestRouteWithoutRule(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	toks := auth.NewTokens(records.New(store, db), nil)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	policy, err := server.Policy()
	if err != nil {
		t.Fatal(err)
	}
	mw := guard.Middleware(guard.Options{Auth: &auth.Authenticator{Tokens: toks}, Policy: policy, Audit: al})
	e := server.New(archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}}), server.Options{Access: mw,
		Routes: []func(*echo.Echo){func(e *echo.Echo) {
			e.GET("/undeclared", func(c echo.Context) error { return c.String(http.StatusOK, "open") })
		}}})
	if err := policy.Cover(server.Routes(e)); err == nil {
		t.Error("Cover accepted a route without a rule")
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	admin, _, err := toks.Create(context.Background(), auth.Principal{Role: auth.RoleAdmin, User: "ops"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int{"": 401, admin: 403} {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		if resp, b := gwtest.Do(t, "GET", srv.URL+"/undeclared", h, nil); resp.StatusCode != want {
			t.Errorf("token %v: %d %s, want %d", tok != "", resp.StatusCode, b, want)
		}
	}
}
