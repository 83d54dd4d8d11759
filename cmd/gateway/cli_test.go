package main

import (
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// registerInstitution registers a minimal institution through the admin
// API: tokens and consents may name only registered institutions.
func registerInstitution(t *testing.T, root, admin, id string) {
	t.Helper()
	resp, b := gwtest.Do(t, "PUT", root+"/api/v1/admin/institutions/"+id,
		map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
		strings.NewReader(`{"id":"`+id+`","name":"测试医院 `+id+`","province":"110000"}`))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("register institution %s: %d %s", id, resp.StatusCode, b)
	}
}
