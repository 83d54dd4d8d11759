package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/storage"
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
