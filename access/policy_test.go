package access_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// TestDefaultDeny: a route without a rule is refused to every role, an
// admin included, and Cover names it.
func TestDefaultDeny(t *testing.T) {
	p, err := access.NewPolicy(access.Rules{"GET /a": {Roles: access.Admins}, "GET /pub": {Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.Principal{Role: auth.RoleAdmin}
	if err := p.Authorize(admin, access.Call{Method: "GET", Route: "/a"}); err != nil {
		t.Errorf("declared route: %v", err)
	}
	for _, c := range []access.Call{{Method: "GET", Route: "/b"}, {Method: "POST", Route: "/a"}, {Method: "GET", Route: ""}} {
		if err := p.Authorize(admin, c); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s %q without a rule: %v, want forbidden", c.Method, c.Route, err)
		}
	}
	if err := p.Authorize(auth.Principal{}, access.Call{Method: "GET", Route: "/pub"}); err != nil {
		t.Errorf("public route: %v", err)
	}
	err = p.Cover([]string{"GET /a", "GET /pub", "POST /a", "GET /b"})
	if err == nil || !strings.Contains(err.Error(), "GET /b, POST /a") {
		t.Errorf("Cover: %v, want both routes without a rule named", err)
	}
	if err := p.Cover([]string{"GET /a"}); err != nil {
		t.Errorf("Cover of declared routes: %v", err)
	}
}

// TestPolicyDuplicate: two adapters declaring one route is an error.
func TestPolicyDuplicate(t *testing.T) {
	if _, err := access.NewPolicy(access.Rules{"GET /a": {}}, access.Rules{"GET /a": {Public: true}}); err == nil {
		t.Error("a route declared twice was accepted")
	}
	if _, err := access.NewPolicy(access.Rules{"/a": {}}); err == nil {
		t.Error("a rule without a method was accepted")
	}
}

// TestAnyMethod: "* pattern" covers every method, an exact method's rule
// wins over it.
func TestAnyMethod(t *testing.T) {
	p, err := access.NewPolicy(access.Rules{"* /s/*": {Public: true}, "POST /s/*": {Roles: access.Admins}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(auth.Principal{}, access.Call{Method: "PROPFIND", Route: "/s/*"}); err != nil {
		t.Errorf("any method: %v", err)
	}
	if err := p.Authorize(auth.Principal{Role: auth.RolePatient}, access.Call{Method: "POST", Route: "/s/*"}); err == nil {
		t.Error("the exact method's rule was not used")
	}
}

// TestMayFanOut: clinicians and admins fan a search out; a peer (no
// loops), a patient or a PACS do not.
func TestMayFanOut(t *testing.T) {
	for role, ok := range map[auth.Role]bool{auth.RoleClinician: true, auth.RoleAdmin: true, auth.RolePeer: false, auth.RolePatient: false, auth.RolePACS: false} {
		if err := access.MayFanOut(auth.Principal{Role: role}, true); (err == nil) != ok || err != nil && !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s: %v, want ok=%v", role, err, ok)
		}
	}
}

// TestPeerMayAskFor: a peer asks for institutions of its own province or
// unknown here, never for one registered in another province.
func TestPeerMayAskFor(t *testing.T) {
	reg := map[string]string{"jsph": "320000", "pumch": "110000", "noprov": ""}
	province := func(id string) string { return reg[id] }
	for inst, ok := range map[string]bool{"pumch": true, "unknown": true, "noprov": true, "jsph": false} {
		err := access.PeerMayAskFor(province, "beijing", "110000", inst)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", inst, err, ok)
		}
	}
}

// TestPictureQuery: on a download route with PictureQuery, a view-only
// share session may ask for pictures (every listed type image/...), and
// nothing else: DICOM, */*, an absent or empty value, a second value, or
// a list that hides another type behind a quote.
func TestPictureQuery(t *testing.T) {
	p, err := access.NewPolicy(access.Rules{"GET /wado": {Roles: access.Readers, Share: access.ShareQuery,
		StudyQuery: []string{"studyUID"}, Download: true, PictureQuery: "contentType"}})
	if err != nil {
		t.Fatal(err)
	}
	view := auth.Principal{Role: auth.RolePatient, User: "share:x", Scope: "1.2.3"}
	dl := view
	dl.Download = true
	for _, c := range []struct {
		types []string // contentType values; nil: absent
		view  bool     // a view-only share may call
	}{
		{[]string{"image/jpeg"}, true},
		{[]string{"image/png, IMAGE/GIF;q=0.5"}, true},
		{[]string{"image/*"}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{"application/dicom"}, false},
		{[]string{"*/*"}, false},
		{[]string{"image/jpeg,"}, false},
		{[]string{"image/jpeg", "application/dicom"}, false},
		{[]string{`image/jpeg;x="a,application/dicom"`}, false},
	} {
		q := map[string][]string{"studyUID": {"1.2.3"}}
		if c.types != nil {
			q["contentType"] = c.types
		}
		call := access.Call{Method: "GET", Route: "/wado", Query: q}
		if err := p.Authorize(view, call); (err == nil) != c.view {
			t.Errorf("view-only share, contentType %q: %v, want allowed=%v", c.types, err, c.view)
		}
		if err := p.Authorize(dl, call); err != nil {
			t.Errorf("downloading share, contentType %q: %v", c.types, err)
		}
	}
}
