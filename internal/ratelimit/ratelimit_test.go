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
