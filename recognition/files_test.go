package recognition

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
)

// TestDefaults: the shipped catalogue and sample registry parse, and the
// registry maps every hospital of the corpus, in Chinese and English, and
// its issuer.
func TestDefaults(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Items) < 14 {
		t.Errorf("%d items", len(cat.Items))
	}
	reg, err := ExampleRegistry()
	if err != nil {
		t.Fatal(err)
	}
	st := newState(reg.Institutions, reg.Regions, cat.Items)
	for _, it := range cat.Items {
		if err := st.checkItemRegions(it); err != nil {
			t.Error(err)
		}
	}
	man := testCorpus(t)
	for _, f := range man.Files {
		if st.byName[nameKey(f.InstitutionName)] == nil {
			t.Errorf("no institution named %q", f.InstitutionName)
		}
		if st.byIssuer[f.IssuerOfPatientID] == nil {
			t.Errorf("no institution with issuer %q", f.IssuerOfPatientID)
		}
	}
}

// TestCatalogueErrors: a catalogue with errors is refused with the line.
func TestCatalogueErrors(t *testing.T) {
	good := `items:
  - code: CT01
    name: 头颅CT平扫
    name_en: CT head
    match: {modalities: [CT], body_parts: [HEAD]}
    validity_days: 30
    price_yuan: 150
    regions: [province]
`
	if _, err := ParseCatalogue("c.yaml", []byte(good)); err != nil {
		t.Fatalf("good catalogue: %v", err)
	}
	cases := []struct{ name, text, want string }{
		{"unknown field", strings.Replace(good, "validity_days", "validty_days", 1), `c.yaml:6: invalid input: unknown field "validty_days"`},
		{"unknown match field", strings.Replace(good, "body_parts", "bodypart", 1), `c.yaml:5: invalid input: unknown field "bodypart"`},
		{"negative window", strings.Replace(good, "30", "-1", 1), "c.yaml:2: invalid input: item CT01: validity_days"},
		{"bad number", strings.Replace(good, "150", "lots", 1), "c.yaml:7: invalid input: line 7: cannot unmarshal"},
		{"no modality", strings.Replace(good, "modalities: [CT], ", "", 1), "c.yaml:2: invalid input: item CT01: match.modalities is required"},
		{"lower-case modality", strings.Replace(good, "[CT]", "[ct]", 1), `modality "ct"`},
		{"no regions", strings.Replace(good, "    regions: [province]\n", "", 1), "c.yaml:2: invalid input: item CT01: regions is required"},
		{"duplicate", good + strings.TrimPrefix(good, "items:\n"), "c.yaml:9: invalid input: item CT01 is defined twice (also on line 2)"},
		{"bad code", strings.Replace(good, "code: CT01", "code: CT/01", 1), `c.yaml:2: invalid input: item code "CT/01"`},
		{"broken yaml", good + "  - code: [\n", "c.yaml:9: invalid input: did not find expected node content"},
		{"not a list", "items: 3\n", "c.yaml:1: invalid input: items must be a list"},
		{"empty", "items: []\n", "the catalogue has no items"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCatalogue("c.yaml", []byte(c.text))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestRegistryErrors: registry files with errors are refused with the line.
func TestRegistryErrors(t *testing.T) {
	good := `regions:
  - {id: YRD, name: 长三角, kind: cross_province}
institutions:
  - id: a
    name: 甲医院
    province: "310000"
    certification: {from: "2024-01-01", until: "2026-12-31"}
    regions: [YRD]
    default_charset: gb2312
    compress_at_ingest: jpeg-ls-lossless
`
	if _, err := ParseRegistry("r.yaml", []byte(good)); err != nil {
		t.Fatalf("good registry: %v", err)
	}
	cases := []struct{ name, text, want string }{
		{"unknown region", strings.Replace(good, "[YRD]", "[JJJ]", 1), `r.yaml:4: invalid input: institution a: unknown region "JJJ"`},
		{"bad province", strings.Replace(good, "310000", "999999", 1), "r.yaml:4: invalid input: institution a: province"},
		{"bad date", strings.Replace(good, "2026-12-31", "2026-13-01", 1), "certification.until"},
		{"until before from", strings.Replace(good, "2026-12-31", "2023-12-31", 1), "is before from"},
		{"bad kind", strings.Replace(good, "cross_province", "galaxy", 1), `r.yaml:2: invalid input: region YRD: kind "galaxy"`},
		{"unknown charset", strings.Replace(good, "gb2312", "GB-99999", 1), `r.yaml:9: invalid input: institution a: default_charset "GB-99999" is not a character set`},
		{"lossy or unknown compression", strings.Replace(good, "jpeg-ls-lossless", "jpeg-baseline", 1), `r.yaml:10: invalid input: institution a: compress_at_ingest "jpeg-baseline" is not one of jpeg-ls-lossless, j2k-lossless, rle (or off)`},
		{"same name twice", good + "  - {id: b, name: 甲医院, province: \"310000\"}\n", `r.yaml:11: invalid input: institution b: name "甲医院" is also a name of a`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRegistry("r.yaml", []byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestImportAllOrNothing: a catalogue naming an unknown region is refused
// before anything is written; export gives back what was imported.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	svc, db, store := emptyService(t)
	reg, _ := ExampleRegistry()
	bad, err := ParseCatalogue("c.yaml", []byte(`items:
  - code: CT01
    name: 头颅CT平扫
    name_en: CT head
    match: {modalities: [CT]}
    validity_days: 30
    price_yuan: 150
    regions: [province, MARS]
`))
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Import(ctx, reg, bad)
	if err == nil || !strings.Contains(err.Error(), `line 2: invalid input: item CT01: unknown region "MARS"`) {
		t.Fatalf("import: %v", err)
	}
	if err := store.List(ctx, "records/", func(oi storage.ObjectInfo) error {
		t.Errorf("half-written: %s", oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i, r, c := svc.Counts(); i+r+c != 0 {
		t.Errorf("half-written: %d %d %d", i, r, c)
	}
	cat, _ := DefaultCatalogue()
	if err := svc.Import(ctx, reg, cat); err != nil {
		t.Fatal(err)
	}
	// A fresh service reads the same from the records.
	again, err := New(ctx, db, records.New(store, db), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1, c1 := svc.Export()
	r2, c2 := again.Export()
	b1, _ := MarshalRegistry(r1)
	b2, _ := MarshalRegistry(r2)
	k1, _ := MarshalCatalogue(c1)
	k2, _ := MarshalCatalogue(c2)
	if string(b1) != string(b2) || string(k1) != string(k2) || len(c2.Items) != len(cat.Items) {
		t.Error("records do not give back the import")
	}
	// And the export parses back.
	if _, err := ParseRegistry("export", b1); err != nil {
		t.Error(err)
	}
	if _, err := ParseCatalogue("export", k1); err != nil {
		t.Error(err)
	}
}
