package access_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/records"
)

// TestAEDirectory: AEs added, changed and removed through the directory
// (as the admin API does) take effect in the live registry at once and
// persist as records; the file's entries are read-only; bad entries are
// refused with the registry's reason.
func TestAEDirectory(t *testing.T) {
	ctx := context.Background()
	store, db := gwtest.StoreAndIndex(t, t.TempDir())
	rec := records.New(store, db)
	file := []access.AE{{AET: "FILEAE", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}}}
	d, err := access.NewAEDirectory(ctx, file, rec)
	if err != nil {
		t.Fatal(err)
	}
	live := d.AEs()
	lo := net.ParseIP("127.0.0.1")
	if _, ok := live.Lookup("NEW AE", lo); ok {
		t.Fatal("unknown AE found")
	}
	created, err := d.Put(ctx, access.AE{AET: "NEW AE", Host: "127.0.0.1", Port: 4242, Institution: "h2", Allow: []access.Operation{access.OpQuery}})
	if err != nil || !created {
		t.Fatalf("put: %v %v", created, err)
	}
	if ae, ok := live.Lookup("NEW AE", lo); !ok || ae.Institution != "h2" || ae.Port != 4242 {
		t.Errorf("added AE not in the live registry: %+v %v", ae, ok)
	}
	created, err = d.Put(ctx, access.AE{AET: "NEW AE", Host: "10.0.0.9", Institution: "h2", Allow: []access.Operation{access.OpStore}})
	if err != nil || created {
		t.Fatalf("change: %v %v", created, err)
	}
	if _, ok := live.Lookup("NEW AE", lo); ok {
		t.Error("changed AE still found at its old address")
	}
	for name, tc := range map[string]struct {
		ae   access.AE
		want error
	}{
		"file entry":    {access.AE{AET: "FILEAE", Host: "127.0.0.1", Institution: "h1"}, access.ErrAEReadOnly},
		"no host":       {access.AE{AET: "X", Institution: "h1"}, access.ErrAEInvalid},
		"bad operation": {access.AE{AET: "X", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{"delete"}}, access.ErrAEInvalid},
		"long title":    {access.AE{AET: "ABCDEFGHIJKLMNOPQ", Host: "127.0.0.1", Institution: "h1"}, access.ErrAEInvalid},
	} {
		if _, err := d.Put(ctx, tc.ae); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if err := d.Delete(ctx, "FILEAE"); !errors.Is(err, access.ErrAEReadOnly) {
		t.Errorf("delete a file entry: %v", err)
	}
	if err := d.Delete(ctx, "NOBODY"); !errors.Is(err, access.ErrAENotFound) {
		t.Errorf("delete an unknown AE: %v", err)
	}
	if _, err := d.Put(ctx, access.AE{AET: "KEPT", Host: "127.0.0.1", Institution: "h3"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "NEW AE"); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Lookup("FILEAE", lo); !ok {
		t.Error("file entry lost")
	}

	// A restart reads the API's entries back from the records.
	d2, err := access.NewAEDirectory(ctx, file, rec)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range d2.List() {
		got[e.AET] = e.Source
	}
	if len(got) != 2 || got["FILEAE"] != "file" || got["KEPT"] != "api" {
		t.Errorf("after a restart: %v, want FILEAE from the file and KEPT from the API", got)
	}
}
