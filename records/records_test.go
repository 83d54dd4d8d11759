package records_test

import (
	"context"
	"errors"
	"testing"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage/storagetest"
)

type rec struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestRecords(t *testing.T) {
	ctx := context.Background()
	obj := storagetest.NewMemory()
	db, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := records.New(obj, db)
	if err := s.Put(ctx, "institutions", "pumch", rec{"北京协和医院", 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "institutions", "pumch", rec{"北京协和医院", 2}); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := s.Get(ctx, "institutions", "pumch", &got); err != nil || got.N != 2 {
		t.Fatalf("get after replace: %+v %v", got, err)
	}
	if err := s.Create(ctx, "decisions", "d1", rec{"accept", 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "decisions", "d1", rec{"refuse", 1}); !errors.Is(err, records.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists (decisions are immutable)", err)
	}
	for _, bad := range [][2]string{{"../x", "a"}, {"k", "a/b"}, {"k", ".."}, {"", "a"}} {
		if err := s.Put(ctx, bad[0], bad[1], rec{}); !errors.Is(err, records.ErrInvalid) {
			t.Errorf("Put(%q, %q): %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
	if err := s.Get(ctx, "institutions", "nope", &got); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	// A fresh index rebuilt from object storage alone holds the same records.
	db2, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	s2 := records.New(obj, db2)
	n, err := s2.Rebuild(ctx)
	if err != nil || n != 2 {
		t.Fatalf("rebuild: %d records, %v", n, err)
	}
	var d rec
	if err := s2.Get(ctx, "decisions", "d1", &d); err != nil || d.Name != "accept" {
		t.Fatalf("decision after rebuild: %+v %v", d, err)
	}
	ids := []string{}
	s2.List(ctx, "institutions", func(id string, _ []byte) error { ids = append(ids, id); return nil })
	if len(ids) != 1 || ids[0] != "pumch" {
		t.Fatalf("list after rebuild: %v", ids)
	}
	if err := s2.Delete(ctx, "institutions", "pumch"); err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Stat(ctx, "records/institutions/pumch.json"); err == nil {
		t.Fatal("deleted record still in object storage")
	}
}
