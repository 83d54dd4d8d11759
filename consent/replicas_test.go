package consent_test

import (
	"context"
	"testing"
	"time"

	"github.com/imgcloud/gateway/consent"
	"github.com/imgcloud/gateway/internal/testutil/recordstest"
)

// TestConsentsSeenAcrossGateways: two consent services on one records
// store (two replicas on one index, each with its cache) see a consent
// granted, then revoked, through the other within about a second.
func TestConsentsSeenAcrossGateways(t *testing.T) {
	ctx := context.Background()
	rec, _ := recordstest.New(t)
	a, err := consent.New(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := consent.New(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	person := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	c, err := a.Grant(ctx, consent.Consent{PersonKey: person, GranteeKind: consent.GranteeAll})
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
	within("grant", func() bool { return len(b.List(person)) == 1 })
	if _, err := b.Revoke(ctx, c.ID, person); err != nil {
		t.Fatalf("revoke through the other gateway: %v", err)
	}
	within("revocation", func() bool {
		l := a.List(person)
		return len(l) == 1 && l[0].Revoked != nil
	})
	if g := a.Grantors("inst-a", nil); len(g) != 0 {
		t.Errorf("a revoked consent still grants: %v", g)
	}
}
