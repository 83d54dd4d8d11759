package recognition

import (
	"context"
	"testing"
	"time"
)

// TestRegistryAndOutcomesSeenAcrossGateways: two recognition services on
// one index and records store (two replicas, each with its snapshot and
// caches): an institution deleted through one, and a study's holder moved
// through one, are seen by the other within about a second; with nothing
// changed, the other's cache is not reloaded.
func TestRegistryAndOutcomesSeenAcrossGateways(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, nil)
	a := fx.svc
	b, err := New(ctx, fx.db, fx.rec, a.opt)
	if err != nil {
		t.Fatal(err)
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > 1500*time.Millisecond {
				t.Fatalf("%s: not seen by the other gateway after %s", what, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	study := fx.man.Studies()[0].StudyUID
	before, err := b.Eligibility(ctx, study) // cached by b
	if err != nil || before == nil || before.Holding == "" {
		t.Fatalf("eligibility of %s: %+v, %v", study, before, err)
	}
	insts, _ := a.Institutions()
	var other, spare string
	for _, in := range insts {
		switch {
		case in.ID == before.Holding:
		case other == "":
			other = in.ID
		case spare == "":
			spare = in.ID
		}
	}
	if _, _, err := a.MoveHolding(ctx, study, other); err != nil {
		t.Fatal(err)
	}
	within("a moved holder", func() bool {
		e, err := b.Eligibility(ctx, study)
		return err == nil && e != nil && e.Holding == other
	})
	if err := a.DeleteInstitution(ctx, spare); err != nil {
		t.Fatal(err)
	}
	within("a deleted institution", func() bool {
		_, err := b.Institution(spare)
		return err != nil
	})
	// Nothing changes now: b's snapshot stays the one it loaded.
	st := b.st.Load()
	time.Sleep(1200 * time.Millisecond)
	if b.Counts(); b.st.Load() != st {
		t.Error("the snapshot was reloaded with nothing changed")
	}
}
