package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestMemoryLimit: the flag wins, -1 turns the limit off, GOMEMLIMIT is
// left alone, a cgroup limit gives three quarters of it, and without any
// the default applies.
func TestMemoryLimit(t *testing.T) {
	none := t.TempDir()
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "memory.max"), []byte("1073741824\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unlimited := t.TempDir()
	if err := os.WriteFile(filepath.Join(unlimited, "memory.max"), []byte("max\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(v1, "memory"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v1, "memory", "memory.limit_in_bytes"), []byte("2147483648\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag    int64
		env     string
		root    string
		limit   int64
		source  string
		applied bool
	}{
		{300 << 20, "1GiB", v2, 300 << 20, "--memory-limit", true},
		{-1, "", v2, math.MaxInt64, "off", true},
		{0, "700MiB", v2, 0, "GOMEMLIMIT", false},
		{0, "", v2, 768 << 20, "cgroup", true},
		{0, "", v1, 1536 << 20, "cgroup", true},
		{0, "", unlimited, DefaultMemoryLimit, "default", true},
		{0, "", none, DefaultMemoryLimit, "default", true},
	} {
		limit, source, ok := memoryLimit(c.flag, c.env, c.root)
		if limit != c.limit || source != c.source || ok != c.applied {
			t.Errorf("memoryLimit(%d, %q, %s): %d %s %v, want %d %s %v", c.flag, c.env, c.root, limit, source, ok, c.limit, c.source, c.applied)
		}
	}
}
