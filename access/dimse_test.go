package access_test

import (
	"errors"
	"net"
	"testing"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

func TestAEs(t *testing.T) {
	list, err := access.ParseAEs([]byte("- {aet: QASCU, host: 127.0.0.1, port: 4243, institution: hn-xy, allow: [store, query, retrieve]}\n- {aet: PACS1, host: 10.0.0.7, port: 104, institution: pumch, allow: [store], tls: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	aes, err := access.NewAEs(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		aet, ip string
		known   bool
	}{
		{"QASCU", "127.0.0.1", true},
		{"QASCU", "127.0.0.2", false}, // right title, wrong address
		{"PACS1", "10.0.0.7", true},
		{"PACS2", "10.0.0.7", false},
	} {
		if _, got := aes.Lookup(tc.aet, net.ParseIP(tc.ip)); got != tc.known {
			t.Errorf("Lookup(%s, %s) = %v, want %v", tc.aet, tc.ip, got, tc.known)
		}
	}
	pacs, _ := aes.Lookup("PACS1", net.ParseIP("10.0.0.7"))
	if !pacs.TLS || pacs.Port != 104 {
		t.Errorf("entry %+v lost tls or port", pacs)
	}
	p, err := pacs.Principal(access.OpStore)
	if err != nil || p.Role != auth.RolePACS || p.Institution != "pumch" || p.User != "ae:PACS1" {
		t.Errorf("store principal %+v, %v", p, err)
	}
	if _, err := pacs.Principal(access.OpQuery); !errors.Is(err, access.ErrOperationNotAllowed) {
		t.Errorf("query by a store-only AE: %v, want ErrOperationNotAllowed", err)
	}
	qa, _ := aes.Lookup("QASCU", net.ParseIP("127.0.0.1"))
	if p, err := qa.Principal(access.OpQuery); err != nil || p.Role != auth.RoleClinician || p.Institution != "hn-xy" {
		t.Errorf("query principal %+v, %v", p, err)
	}
}

func TestAEsRefused(t *testing.T) {
	for name, yaml := range map[string]string{
		"unknown key":   "- {aet: A, host: 127.0.0.1, institution: x, alow: [store]}",
		"bad operation": "- {aet: A, host: 127.0.0.1, institution: x, allow: [delete]}",
		"no host":       "- {aet: A, institution: x, allow: [store]}",
		"long title":    "- {aet: ABCDEFGHIJKLMNOPQ, host: 127.0.0.1, institution: x}",
		"twice":         "- {aet: A, host: 127.0.0.1, institution: x}\n- {aet: A, host: 127.0.0.1, institution: y}",
	} {
		list, err := access.ParseAEs([]byte(yaml))
		if err == nil {
			_, err = access.NewAEs(list)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAETransportAndCommit: an AE marked tls needs the TLS port and a
// verified client certificate; storage commitment needs the store
// allowance and reads as a clinician of the AE's institution.
func TestAETransportAndCommit(t *testing.T) {
	tlsAE := access.AE{AET: "T", TLS: true, Institution: "h1", Allow: []access.Operation{access.OpStore}}
	plainAE := access.AE{AET: "P", Institution: "h1", Allow: []access.Operation{access.OpQuery}}
	for _, tc := range []struct {
		ae               access.AE
		overTLS, trusted bool
		ok               bool
	}{
		{tlsAE, true, true, true},
		{tlsAE, true, false, false},
		{tlsAE, false, false, false},
		{plainAE, false, false, true},
		{plainAE, true, false, true},
	} {
		err := tc.ae.CheckTransport(tc.overTLS, tc.trusted)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, access.ErrTLSRequired) {
			t.Errorf("%s over TLS %v, trusted %v: %v, want ok %v", tc.ae.AET, tc.overTLS, tc.trusted, err, tc.ok)
		}
	}
	p, err := tlsAE.CommitPrincipal()
	if err != nil || p.Role != auth.RoleClinician || p.Institution != "h1" || p.User != "ae:T" {
		t.Errorf("commit principal %+v, %v", p, err)
	}
	if _, err := plainAE.CommitPrincipal(); !errors.Is(err, access.ErrOperationNotAllowed) {
		t.Errorf("commitment by a query-only AE: %v, want ErrOperationNotAllowed", err)
	}
}

// TestAEDestination: a C-MOVE destination is an entry with that title
// and a port; an entry without a port is no destination.
func TestAEDestination(t *testing.T) {
	r, err := access.NewAEs([]access.AE{
		{AET: "STORE", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}},
		{AET: "WS", Host: "127.0.0.1", Port: 11113, Institution: "h1", Allow: []access.Operation{access.OpRetrieve}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ae, ok := r.Destination("WS"); !ok || ae.Port != 11113 || ae.Institution != "h1" {
		t.Errorf("WS: %+v %v", ae, ok)
	}
	for _, aet := range []string{"STORE", "NOBODY", ""} {
		if _, ok := r.Destination(aet); ok {
			t.Errorf("%q is a destination", aet)
		}
	}
	var none *access.AEs
	if _, ok := none.Destination("WS"); ok {
		t.Error("nil registry has a destination")
	}
}
