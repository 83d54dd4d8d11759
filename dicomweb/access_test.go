package dicomweb_test

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/dicomweb"
)

// TestAccessRulesMatchRoutes: AccessRules names exactly the routes
// Register mounts, so DICOMweb's route shapes and their rules cannot
// drift apart.
func TestAccessRulesMatchRoutes(t *testing.T) {
	e := echo.New()
	dicomweb.Register(e.Group("/dicomweb"), nil, dicomweb.Options{Site: e.Group("")})
	p, err := access.NewPolicy(dicomweb.AccessRules("/dicomweb"))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Method, "echo_") {
			routes[r.Method+" "+r.Path] = true
		}
	}
	var keys []string
	for k := range routes {
		keys = append(keys, k)
	}
	if err := p.Cover(keys); err != nil {
		t.Error(err)
	}
	for k := range dicomweb.AccessRules("/dicomweb") {
		if !routes[k] {
			t.Errorf("rule %s names no route", k)
		}
	}
}
