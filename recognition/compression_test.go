package recognition

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/codec"
)

// TestCompressAtIngestRule: the archive's compression rule gives the
// syntax of the storing party's institution, none for other parties, and
// follows edits through the admin path, which refuses what is not a
// lossless syntax.
func TestCompressAtIngestRule(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := emptyService(t)
	reg := importDefaults(t, svc)
	in, err := svc.Institution(reg.Institutions[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	as := func(inst string) context.Context {
		return auth.WithPrincipal(ctx, auth.Principal{Role: auth.RolePACS, Institution: inst, User: "pacs-1"})
	}
	if got := svc.CompressAtIngest(as(in.ID)); got != "" {
		t.Fatalf("default: %q, want none", got)
	}
	for _, c := range []struct{ name, want string }{{"jpeg-ls-lossless", codec.JPEGLSLossless}, {"j2k-lossless", codec.JPEG2000Lossless}, {"rle", codec.RLELossless}, {"off", ""}} {
		edit := *in
		edit.CompressAtIngest = c.name
		if err := svc.PutInstitution(ctx, &edit); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := svc.CompressAtIngest(as(in.ID)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if got := svc.CompressAtIngest(as(reg.Institutions[1].ID)); got != "" {
			t.Errorf("%s: another institution gets %q", c.name, got)
		}
		if got := svc.CompressAtIngest(ctx); got != "" {
			t.Errorf("%s: no principal gets %q", c.name, got)
		}
	}
	edit := *in
	edit.CompressAtIngest = "jpeg-lossy"
	if err := svc.PutInstitution(ctx, &edit); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "compress_at_ingest") {
		t.Fatalf("a lossy name: %v", err)
	}
	if got := svc.CompressAtIngest(as(in.ID)); got != "" {
		t.Errorf("after the refused edit: %q", got)
	}
}
