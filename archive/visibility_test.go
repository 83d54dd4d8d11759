package archive_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestNoVisibilityHidesEverything: an archive built without a Visibility
// rule fails closed: a stored study is left out of searches and is not
// found on retrieval; Unrestricted shows it.
func TestNoVisibilityHidesEverything(t *testing.T) {
	const study, series, sop = "1.2.3.17.1", "1.2.3.17.1.1", "1.2.3.17.1.1.1"
	file := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal(study, series, sop))
	store, db := gwtest.StoreAndIndex(t, t.TempDir())
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		vis     archive.Visibility
		visible bool
	}{{"no rule", nil, false}, {"unrestricted", archive.Unrestricted{}, true}} {
		svc := archive.New(store, db, archive.Options{TempDir: t.TempDir(), Visibility: c.vis})
		if c.vis == nil {
			st, err := svc.Store(ctx, bytes.NewReader(file), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Commit(ctx, []*archive.Stored{st}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := svc.Search(ctx, archive.Query{Level: archive.LevelStudy}, archive.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Items) == 1; got != c.visible {
			t.Errorf("%s: search found %d studies, want visible=%v", c.name, len(res.Items), c.visible)
		}
		_, err = svc.Instances(ctx, study, "", "")
		if got := err == nil; got != c.visible || err != nil && !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("%s: instances: %v, want visible=%v", c.name, err, c.visible)
		}
	}
}
