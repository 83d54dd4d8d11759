package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
)

// TestStoreGenWritesParsableInstances: the files of "store gen" are Part 10
// files the gateway's header parser reads, at the folder store's keys, with
// the attributes "index gen" draws for the same flags.
func TestStoreGenWritesParsableInstances(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := storeGen(context.Background(), []string{"-data", dir, "-studies", "3", "-series", "2", "-instances", "2", "-c", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	draw := newStudyDraw(1, 40, 2000, 2, 2)
	n := 0
	for i := range 3 {
		bs := draw.next(i)
		for _, se := range bs.series {
			for _, sop := range se.sops {
				path := filepath.Join(dir, "objects", filepath.FromSlash(storage.InstanceKey(bs.uid, se.uid, sop)))
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if h.StudyUID != bs.uid || h.SeriesUID != se.uid || h.SOPUID != sop {
					t.Errorf("%s: UIDs %s %s %s", path, h.StudyUID, h.SeriesUID, h.SOPUID)
				}
				for _, tag := range []string{"00100020", "00080020", "00080050", "00081030"} {
					if got, want := h.Dataset.String(tag), bs.attrs.String(tag); got != want {
						t.Errorf("%s: %s = %q, want %q", path, tag, got, want)
					}
				}
				if got, want := h.Dataset.String("00080060"), se.modality; got != want {
					t.Errorf("%s: modality %q, want %q", path, got, want)
				}
				pn, _ := h.Dataset["00100010"].Value[0].(dcm.PersonName)
				want, _ := bs.attrs["00100010"].Value[0].(dcm.PersonName)
				if pn.Alphabetic != want.Alphabetic || pn.Ideographic != want.Ideographic {
					t.Errorf("%s: name %+v, want %+v", path, pn, want)
				}
				n++
			}
		}
	}
	if n != 12 {
		t.Fatalf("checked %d files, want 12", n)
	}
}

// TestStoreGenReindexes: reindex (headers read several at a time, in
// chunks) indexes every generated object once, counts a corrupt one as
// failed without stopping, and numbers the rows in key order.
func TestStoreGenReindexes(t *testing.T) {
	dir := t.TempDir()
	// 60 studies x 2 x 5 = 600 objects: more than one chunk.
	if err := storeGen(context.Background(), []string{"-data", dir, "-studies", "60", "-c", "2"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	bad := storage.InstanceKey("2.25.1", "2.25.1.1", "2.25.1.1.1")
	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte("not a DICOM file")
	if err := store.Put(context.Background(), bad, bytes.NewReader(junk), int64(len(junk))); err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := archive.New(store, db, archive.Options{TempDir: t.TempDir(), Visibility: archive.Unrestricted{}})
	calls, last := 0, 0
	st, err := svc.Reindex(context.Background(), func(done, total int) {
		calls++
		last = total
		if done != calls || (total != 601 && total != 0) {
			t.Errorf("progress(%d, %d) at call %d", done, total, calls)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 601 || st.Indexed != 600 || st.Failed != 1 || calls != 601 || last != 601 {
		t.Fatalf("reindex: %+v, %d progress calls", st, calls)
	}
	if s, se, in := db.Counts(); s != 60 || se != 120 || in != 600 {
		t.Fatalf("counts %d studies, %d series, %d instances", s, se, in)
	}
	// Rows are written in the listing's (key) order: within a series the
	// instances' sequence numbers follow their keys.
	draw := newStudyDraw(1, 40, 2000, 2, 5)
	for i := range 60 {
		bs := draw.next(i)
		for _, se := range bs.series {
			rows, err := db.Instances(bs.uid, se.uid)
			if err != nil || len(rows) != 5 {
				t.Fatalf("series %s: %d rows, %v", se.uid, len(rows), err)
			}
			slices.SortFunc(rows, func(a, b *index.Instance) int { return strings.Compare(a.Key, b.Key) })
			for k := 1; k < len(rows); k++ {
				if rows[k].Seq <= rows[k-1].Seq {
					t.Errorf("%s written before %s", rows[k].Key, rows[k-1].Key)
				}
			}
		}
	}
}
