package storage

import "testing"

func TestValidPrefix(t *testing.T) {
	for prefix, want := range map[string]bool{
		"": true, "a": true, "a/": true, "a/b": true, "studies/1.2/": true, ".": true, "..": true, "a/..": true, "a/.b": true,
		"/": false, "/a": false, "a//": false, "../": false, "./a": false, "a/../b": false, "a b": false, "ü": false,
	} {
		if got := ValidPrefix(prefix); got != want {
			t.Errorf("ValidPrefix(%q) = %v, want %v", prefix, got, want)
		}
	}
}

func TestClampRange(t *testing.T) {
	cases := []struct{ size, off, length, start, n int64 }{
		{100, 0, -1, 0, 100}, {100, 10, 10, 10, 10}, {100, 95, 10, 95, 5}, {100, 100, 5, 100, 0},
		{100, 200, -1, 100, 0}, {0, 0, 10, 0, 0}, {100, 0, 0, 0, 0}, {100, -5, 10, 0, 10},
	}
	for _, c := range cases {
		if start, n := ClampRange(c.size, c.off, c.length); start != c.start || n != c.n {
			t.Errorf("ClampRange(%d, %d, %d) = %d, %d; want %d, %d", c.size, c.off, c.length, start, n, c.start, c.n)
		}
	}
}
