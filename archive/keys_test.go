package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// keyed is a small instance with the attributes the secondary keys hold.
func keyed(study, date, pid, name, modality string) []byte {
	series, sop := study+".1", study+".1.1"
	var ds bytes.Buffer
	ds.Write(gwtest.Elem(0x0008, 0x0016, "UI", gwtest.Str("1.2.840.10008.5.1.4.1.1.7", 0)))
	ds.Write(gwtest.Elem(0x0008, 0x0018, "UI", gwtest.Str(sop, 0)))
	ds.Write(gwtest.Elem(0x0008, 0x0020, "DA", gwtest.Str(date, ' ')))
	ds.Write(gwtest.Elem(0x0008, 0x0050, "SH", gwtest.Str("ACC"+pid, ' ')))
	ds.Write(gwtest.Elem(0x0008, 0x0060, "CS", gwtest.Str(modality, ' ')))
	ds.Write(gwtest.Elem(0x0010, 0x0010, "PN", gwtest.Str(name, ' ')))
	ds.Write(gwtest.Elem(0x0010, 0x0020, "LO", gwtest.Str(pid, ' ')))
	ds.Write(gwtest.Elem(0x0020, 0x000D, "UI", gwtest.Str(study, 0)))
	ds.Write(gwtest.Elem(0x0020, 0x000E, "UI", gwtest.Str(series, 0)))
	return gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, ds.Bytes())
}

// TestSecondaryKeysAtIngestAndReindex: STOW writes the secondary keys a
// search plans with, and reindex of the objects into an empty index
// builds the same keys, so searches answer the same after it.
func TestSecondaryKeysAtIngestAndReindex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	svc, _, db := newArchive(t, dir, t.TempDir())
	for i, c := range [][4]string{
		{"20240105", "PID1", "Zhang^Wei", "CT"}, {"20240301", "PID1", "Zhang^Li", "MR"},
		{"20231111", "PID2", "Li^Na", "CT"}, {"20240210", "PID3", "Wang^Fang", "US"},
	} {
		storeCommitted(t, svc, keyed(fmt.Sprintf("1.2.7.%d", i), c[0], c[1], c[2], c[3]))
	}
	keys := func(db *index.DB, kind index.Kind, v string, exact bool) []string {
		var out []string
		if err := db.ScanKey(kind, v, exact, func(c index.Cursor) bool { out = append(out, c.UID); return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	search := func(svc *archive.Service, q archive.Query) []string {
		res, err := svc.Search(ctx, q, archive.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ds := range res.Items {
			out = append(out, ds.String("0020000D"))
		}
		return out
	}
	check := func(what string, db *index.DB, svc *archive.Service) {
		t.Helper()
		for _, c := range []struct {
			kind  index.Kind
			v     string
			exact bool
			want  []string
		}{
			{index.KindPatientID, "PID1", true, []string{"1.2.7.1", "1.2.7.0"}},
			{index.KindAccession, "ACCPID2", true, []string{"1.2.7.2"}},
			{index.KindModality, "CT", true, []string{"1.2.7.0", "1.2.7.2"}},
			{index.KindName, "zhang^wei", true, []string{"1.2.7.0"}},
			{index.KindName, "na", true, []string{"1.2.7.2"}},
		} {
			if got := keys(db, c.kind, c.v, c.exact); !slices.Equal(got, c.want) {
				t.Errorf("%s: %s %q: %v, want %v", what, c.kind, c.v, got, c.want)
			}
		}
		for _, c := range []struct {
			q    archive.Query
			want []string
		}{
			{archive.Query{Params: []archive.Param{{Tag: "00100020", Value: "PID1"}}}, []string{"1.2.7.1", "1.2.7.0"}},
			{archive.Query{Params: []archive.Param{{Tag: "00100010", Value: "zhang*"}}, Limit: 1}, []string{"1.2.7.1"}},
			{archive.Query{Params: []archive.Param{{Tag: "00080020", Value: "20240101-20240228"}}}, []string{"1.2.7.3", "1.2.7.0"}},
			{archive.Query{Level: archive.LevelSeries, Params: []archive.Param{{Tag: "00080060", Value: "CT"}}}, []string{"1.2.7.0", "1.2.7.2"}},
			{archive.Query{}, []string{"1.2.7.1", "1.2.7.3", "1.2.7.0", "1.2.7.2"}},
		} {
			if got := search(svc, c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s: search %+v: %v, want %v", what, c.q, got, c.want)
			}
		}
		if s, se, in := db.Counts(); s != 4 || se != 4 || in != 4 {
			t.Errorf("%s: counts %d %d %d", what, s, se, in)
		}
	}
	check("after STOW", db, svc)

	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := index.Open(index.Options{Dir: filepath.Join(dir, "rebuilt")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	rebuilt := archive.New(store, fresh, archive.Options{TempDir: t.TempDir(), Visibility: archive.Unrestricted{}})
	// A mark of a past holding pass (recognition.IndexHoldings) does not
	// survive a reindex that wrote rows: they name no holder yet.
	if err := fresh.SetHoldingsMark("registry 1 x"); err != nil {
		t.Fatal(err)
	}
	if st, err := rebuilt.Reindex(ctx, nil); err != nil || st.Indexed != 4 {
		t.Fatalf("reindex: %+v, %v", st, err)
	}
	check("after reindex", fresh, rebuilt)
	if m, err := fresh.HoldingsMark(); err != nil || m != "" {
		t.Errorf("holdings mark after reindex: %q, %v", m, err)
	}
}
