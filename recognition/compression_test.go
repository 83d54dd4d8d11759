package recognition

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// TestCompressAtIngestRule: the archive's compression rule gives the
// syntax of the storing party's institution, none for other parties, and
// follows edits through the admin path, which refuses what is not a
// lossless syntax.
func TestCompressAtIngestRule(t *testing.T) {
	ctx := context.Background()
	db, err := index.Open(index.Options{Dir: filepath.Join(t.TempDir(), "index")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := storagetest.NewMemory()
	svc, err := New(ctx, db, records.New(store, db), Options{Now: func() time.Time { return corpusToday }})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := ExampleRegistry()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Import(ctx, reg, cat); err != nil {
		t.Fatal(err)
	}
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
