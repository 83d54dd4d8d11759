package recognition

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
)

// TestHoldingFixedAtFirstCheck: a PACS of another institution may not add
// to a stored study (whatever its instance says), later checks never
// re-attribute a study, and only MoveHolding moves it.
func TestHoldingFixedAtFirstCheck(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	study := fx.study(t, "CT", "jsph")
	pacs := func(inst string) context.Context {
		return auth.WithPrincipal(ctx, auth.Principal{Role: auth.RolePACS, Institution: inst, User: "pacs"})
	}
	instance := func(uid, name string) dcm.Dataset {
		ds := dcm.Dataset{"0020000D": {VR: "UI", Value: []any{uid}}}
		if name != "" {
			ds[tagInstitutionName] = &dcm.Element{VR: "LO", Value: []any{name}}
		}
		return ds
	}
	holding := func() string {
		t.Helper()
		row, err := fx.db.Study(study)
		if err != nil {
			t.Fatal(err)
		}
		h := fx.svc.StudyInstitution(ctx, row)
		if row.Holding != h {
			t.Errorf("the index's holding key says %q, the record %q", row.Holding, h)
		}
		return h
	}

	shanghai := fx.svc.state().institutions["zsh-fdu"]
	for _, name := range []string{"", shanghai.Name} {
		err := access.NewAdmission(fx.svc).Admit(pacs("zsh-fdu"), instance(study, name))
		if !errors.Is(err, ErrForeignInstitution) || !strings.Contains(err.Error(), "study "+study+" is held by another institution") {
			t.Errorf("zsh-fdu's PACS adds to jsph's study (InstitutionName %q): %v", name, err)
		}
	}
	if err := access.NewAdmission(fx.svc).Admit(pacs("jsph"), instance(study, "")); err != nil {
		t.Errorf("the holder's PACS: %v", err)
	}
	// A new study is claimed by the first PACS that stores it, until its
	// first check fixes the holder.
	fresh := "1.2.826.0.1.3680043.10.999.1"
	if err := access.NewAdmission(fx.svc).Admit(pacs("zsh-fdu"), instance(fresh, "")); err != nil {
		t.Errorf("a new study without names: %v", err)
	}
	if err := access.NewAdmission(fx.svc).Admit(pacs("zsh-fdu"), instance(fresh, "")); err != nil {
		t.Errorf("the claimant's next instance: %v", err)
	}
	if err := access.NewAdmission(fx.svc).Admit(pacs("jsph"), instance(fresh, "")); !errors.Is(err, ErrForeignInstitution) {
		t.Errorf("another PACS's instance of a study claimed moments ago: %v", err)
	}
	// A check run for another PACS (an instance stored anyway, as before
	// this rule) keeps the holder.
	if e, err := fx.svc.Check(pacs("zsh-fdu"), study); err != nil || e.Holding != "jsph" || holding() != "jsph" {
		t.Fatalf("check for another PACS: %+v, %v; holding %s", e, err, holding())
	}

	if _, _, err := fx.svc.MoveHolding(ctx, study, "mars"); !errors.Is(err, ErrInvalid) {
		t.Errorf("move to an unregistered institution: %v", err)
	}
	if _, _, err := fx.svc.MoveHolding(ctx, "1.2.3.404", "zsh-fdu"); !errors.Is(err, ErrNotFound) {
		t.Errorf("move a study that does not exist: %v", err)
	}
	prev, e, err := fx.svc.MoveHolding(ctx, study, "zsh-fdu")
	if err != nil || prev != "jsph" || e.Holding != "zsh-fdu" || e.AttributedBy != AttributedByAdmin || holding() != "zsh-fdu" {
		t.Fatalf("move: %q %+v %v; holding %s", prev, e, err, holding())
	}
	if e, err := fx.svc.Check(pacs("jsph"), study); err != nil || e.Holding != "zsh-fdu" {
		t.Errorf("a check after the move re-attributed: %+v, %v", e, err)
	}
	if err := access.NewAdmission(fx.svc).Admit(pacs("jsph"), instance(study, "")); !errors.Is(err, ErrForeignInstitution) {
		t.Errorf("the former holder's PACS after the move: %v", err)
	}

	// An index that lost the holding keys (reindex, an older layout) gets
	// them back from the records.
	for _, uid := range []string{study, fresh} {
		if err := fx.db.SetHolding(uid, ""); err != nil && uid == study {
			t.Fatal(err)
		}
	}
	if n, err := fx.svc.IndexHoldings(ctx); err != nil || n != 1 {
		t.Errorf("IndexHoldings: %d, %v; want the one study with a record", n, err)
	}
	if row, err := fx.db.Study(study); err != nil || row.Holding != "zsh-fdu" {
		t.Errorf("after IndexHoldings: %+v, %v", row, err)
	}
	// The complete pass left its mark: the next start's pass reads nothing
	// (a holder lost now stays lost), until the index asks for a new pass
	// or the registry changes.
	if err := fx.db.SetHolding(study, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := fx.svc.IndexHoldings(ctx); err != nil || n != 0 {
		t.Errorf("IndexHoldings after a complete pass: %d, %v; want 0 (skipped)", n, err)
	}
	if err := fx.db.SetHoldingsMark(""); err != nil {
		t.Fatal(err)
	}
	if n, err := fx.svc.IndexHoldings(ctx); err != nil || n != 1 {
		t.Errorf("IndexHoldings after the mark was cleared: %d, %v; want 1", n, err)
	}
	if err := fx.db.SetHolding(study, ""); err != nil {
		t.Fatal(err)
	}
	in, err := fx.svc.Institution("jsph")
	if err != nil {
		t.Fatal(err)
	}
	changed := *in
	changed.NameEN = "Renamed " + in.NameEN
	if err := fx.svc.PutInstitution(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	if n, err := fx.svc.IndexHoldings(ctx); err != nil || n != 1 {
		t.Errorf("IndexHoldings after a registry change: %d, %v; want 1", n, err)
	}
}
