package ratelimit

import (
	"testing"
	"time"
)

// TestKeyed: a key gets burst tokens, refilled at the rate; keys do not
// share buckets; Empty takes nothing; an idle key is forgotten and starts
// full again.
func TestKeyed(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	k := New(1, 3, 10*time.Minute)
	if k.Empty("a", t0) {
		t.Fatal("an unknown key is empty")
	}
	for i := range 3 {
		if !k.Allow("a", t0) {
			t.Fatalf("token %d refused within the burst", i+1)
		}
	}
	if k.Allow("a", t0) || !k.Empty("a", t0) {
		t.Fatal("a fourth token at once was allowed")
	}
	if !k.Allow("b", t0) {
		t.Fatal("another key shares the bucket")
	}
	if !k.Empty("a", t0.Add(500*time.Millisecond)) || k.Empty("a", t0.Add(time.Second)) {
		t.Fatal("the bucket does not refill at one token per second")
	}
	later := t0.Add(11 * time.Minute)
	k.Allow("b", later) // sweeps the idle key "a"
	if _, ok := k.m["a"]; ok {
		t.Fatal("an idle key was kept")
	}
}

// TestSplit: split in two, a bucket allows half the burst and refills at
// half the rate; back to one part, the whole limits again.
func TestSplit(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	k := New(10, 10, time.Hour)
	k.Split(2, now)
	allowed := func(at time.Time) int {
		n := 0
		for k.Allow("tok", at) {
			n++
		}
		return n
	}
	if got := allowed(now); got != 5 {
		t.Errorf("burst of one of two parts: %d, want 5", got)
	}
	if got := allowed(now.Add(time.Second)); got != 5 {
		t.Errorf("after 1 s at 5/s: %d, want 5", got)
	}
	k.Split(1, now.Add(time.Second))
	if got := allowed(now.Add(3 * time.Second)); got != 10 {
		t.Errorf("whole again, after 2 s at 10/s: %d, want 10 (the burst)", got)
	}
	k.Split(0, now) // no part is one part
	if k.parts != 1 {
		t.Errorf("Split(0): %d parts", k.parts)
	}
}
