package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/storage"
)

// LargeSize is the size of the large object Run streams through a store,
// above the default S3 part size so that multipart uploads are exercised.
const LargeSize = 40 << 20

// Run checks that the stores made by newStore behave as storage.Store
// documents. Each subtest calls newStore for a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Large", testLarge},
		{"Overwrite", testOverwrite},
		{"Ranges", testRanges},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"InvalidKeys", testInvalidKeys},
		{"ShortBody", testShortBody},
		{"LongBody", testLongBody},
		{"BodyError", testBodyError},
		{"Cancelled", testCancelled},
		{"CancelledMidPut", testCancelledMidPut},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// put stores data at key or fails the test.
func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// get reads a range of key or fails the test.
func get(t *testing.T, s storage.Store, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", key, offset, length, err)
	}
	return b
}

// wantContent checks that key holds exactly want.
func wantContent(t *testing.T, s storage.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key, 0, -1); !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Size != int64(len(want)) || info.Key != key {
		t.Fatalf("Stat(%q) = %+v, want key %q size %d", key, info, key, len(want))
	}
}

// wantMissing checks that key does not exist.
func wantMissing(t *testing.T, s storage.Store, key string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat(%q) error = %v, want ErrNotFound", key, err)
	}
	rc, err := s.Get(t.Context(), key, 0, -1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

// keys lists the keys under prefix.
func keys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var got []string
	err := s.List(t.Context(), prefix, func(info storage.ObjectInfo) error {
		got = append(got, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

// pattern returns n bytes that differ by position.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func testRoundTrip(t *testing.T, s storage.Store) {
	cases := map[string][]byte{
		"small.txt": []byte("hello, object store"),
		"empty":     {},
		"studies/1.2.3/series/4.5/instances/6.7.dcm": pattern(70_000),
		"records/consent/x-1_A.json":                 []byte(`{"id":"x-1_A"}`),
	}
	for key, data := range cases {
		put(t, s, key, data)
	}
	for key, data := range cases {
		wantContent(t, s, key, data)
	}
}

func testLarge(t *testing.T, s storage.Store) {
	const key, seed = "large/object.dcm", 42
	if err := s.Put(t.Context(), key, RandomReader(seed, LargeSize), LargeSize); err != nil {
		t.Fatalf("Put of %d bytes: %v", LargeSize, err)
	}
	info, err := s.Stat(t.Context(), key)
	if err != nil || info.Size != LargeSize {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, LargeSize)
	}
	rc, err := s.Get(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	if err := SameContent(rc, RandomReader(seed, LargeSize)); err != nil {
		t.Fatalf("Get: %v", err)
	}
	// A range across the boundary of 16 MiB parts.
	const off, n = 16<<20 - 1000, 5000
	want, _ := io.ReadAll(io.LimitReader(skip(RandomReader(seed, LargeSize), off), n))
	if got := get(t, s, key, off, n); !bytes.Equal(got, want) {
		t.Fatalf("Get(%d, %d): got %d bytes, content differs", off, n, len(got))
	}
}

// skip discards n bytes of r and returns it.
func skip(r io.Reader, n int64) io.Reader {
	io.CopyN(io.Discard, r, n)
	return r
}

func testOverwrite(t *testing.T, s storage.Store) {
	put(t, s, "k", []byte("first version"))
	put(t, s, "k", []byte("second, longer version"))
	wantContent(t, s, "k", []byte("second, longer version"))
	put(t, s, "k", []byte("3rd"))
	wantContent(t, s, "k", []byte("3rd"))
	put(t, s, "k", nil)
	wantContent(t, s, "k", nil)
}

func testRanges(t *testing.T, s storage.Store) {
	data := pattern(100)
	put(t, s, "r/obj", data)
	put(t, s, "r/empty", nil)
	cases := []struct {
		key            string
		offset, length int64
		want           []byte
	}{
		{"r/obj", 0, 10, data[:10]},
		{"r/obj", 45, 10, data[45:55]},
		{"r/obj", 90, 10, data[90:]},
		{"r/obj", 99, 1, data[99:]},
		{"r/obj", 95, 10, data[95:]},
		{"r/obj", 0, 1000, data},
		{"r/obj", 10, -1, data[10:]},
		{"r/obj", 0, -1, data},
		{"r/obj", 0, 0, nil},
		{"r/obj", 50, 0, nil},
		{"r/obj", 100, 10, nil},
		{"r/obj", 150, -1, nil},
		{"r/empty", 0, 10, nil},
		{"r/empty", 5, -1, nil},
	}
	for _, c := range cases {
		if got := get(t, s, c.key, c.offset, c.length); !bytes.Equal(got, c.want) {
			t.Errorf("Get(%q, %d, %d) = %d bytes, want %d", c.key, c.offset, c.length, len(got), len(c.want))
		}
	}
	rc, err := s.Get(t.Context(), "r/obj", -1, 10)
	if err == nil {
		rc.Close()
		t.Errorf("Get with negative offset: no error")
	} else if errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get with negative offset: %v, want an error other than ErrNotFound", err)
	}
}

func testMissing(t *testing.T, s storage.Store) {
	wantMissing(t, s, "missing")
	wantMissing(t, s, "no/such/dir/missing.dcm")
	put(t, s, "dir/present", []byte("x"))
	wantMissing(t, s, "dir")
	wantMissing(t, s, "dir/present/below")
	wantMissing(t, s, "dir/pres")
	rc, err := s.Get(t.Context(), "missing", 10, 5)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ranged Get of a missing key: %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	put(t, s, "d/one", []byte("1"))
	put(t, s, "d/sub/two", []byte("2"))
	if err := s.Delete(t.Context(), "d/one"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "d/one")
	if err := s.Delete(t.Context(), "d/one"); err != nil {
		t.Fatalf("Delete again: %v", err)
	}
	if err := s.Delete(t.Context(), "never/existed"); err != nil {
		t.Fatalf("Delete of a key never stored: %v", err)
	}
	if err := s.Delete(t.Context(), "d/sub"); err != nil {
		t.Fatalf("Delete of a prefix that is no key: %v", err)
	}
	wantContent(t, s, "d/sub/two", []byte("2"))
	if err := s.Delete(t.Context(), "d/sub/two"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Fatalf("List after deleting everything = %q", got)
	}
	put(t, s, "d/sub/two", []byte("2 again"))
	wantContent(t, s, "d/sub/two", []byte("2 again"))
}

func testList(t *testing.T, s storage.Store) {
	all := []string{
		// Keys sharing a prefix with a "directory" sort around it by the
		// byte after the prefix: '-' and '.' before '/', '0' and '_' after.
		"a/b", "a/b2/c", "a/ba", "a/c/d", "a/c/d.e", "a/c-d", "a/c.d", "a/c_d", "a/c0", "a0", "a-", "A",
		"b", "c/d/e/f", "studies/1.2/series/3/instances/4.dcm", "studies/1.2/series/3/instances/40.dcm",
		"studies/1.2/series/3/instances/5.dcm", "studies/1.20/series/1/instances/1.dcm",
	}
	sizes := map[string]int64{}
	for i, k := range slices.Backward(all) {
		put(t, s, k, pattern(i+1))
		sizes[k] = int64(i + 1)
	}
	slices.Sort(all)
	var got []string
	err := s.List(t.Context(), "", func(info storage.ObjectInfo) error {
		got = append(got, info.Key)
		if info.Size != sizes[info.Key] {
			t.Errorf("List: size of %q = %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("List(\"\") =\n%q\nwant\n%q", got, all)
	}
	for _, prefix := range []string{"a/b", "a/b/", "a/b2", "a/b2/c", "a/c", "a/c/", "a/c/d", "a", "a/", "studies/1.2", "studies/1.2/", "studies/1.2/series/3/instances/4", "zzz", "a/b/c/d/e", "c/d/e/f"} {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		if got := keys(t, s, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	for _, prefix := range []string{"../", "/", "a//", "./a"} {
		if got := keys(t, s, prefix); len(got) != 0 {
			t.Errorf("List(%q) = %q, want nothing", prefix, got)
		}
	}
}

func testListStops(t *testing.T, s storage.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("l/%d", i), []byte{byte(i)})
	}
	stop := errors.New("stop here")
	var seen []string
	err := s.List(t.Context(), "l/", func(info storage.ObjectInfo) error {
		seen = append(seen, info.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List error = %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"l/0", "l/1"}) {
		t.Fatalf("List called back for %q after the error", seen)
	}
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	for _, key := range []string{"", "../x", "/abs", "a//b", "a/./b", "a/../b", "a/", "sp ace", "a\\b", "~tmp", "ü"} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey", key, err)
		}
		if rc, err := s.Get(t.Context(), key, 0, -1); err == nil {
			rc.Close()
			t.Errorf("Get(%q): no error", key)
		}
		if err := s.Delete(t.Context(), key); err == nil {
			t.Errorf("Delete(%q): no error", key)
		}
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Fatalf("objects after invalid Puts: %q", got)
	}
}

func testShortBody(t *testing.T, s storage.Store) {
	put(t, s, "short/existing", []byte("original content"))
	err := s.Put(t.Context(), "short/existing", strings.NewReader("trunc"), 16)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of a short body over an object: %v, want io.ErrUnexpectedEOF", err)
	}
	wantContent(t, s, "short/existing", []byte("original content"))

	err = s.Put(t.Context(), "short/new", strings.NewReader("trunc"), 16)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of a short body: %v, want io.ErrUnexpectedEOF", err)
	}
	wantMissing(t, s, "short/new")

	// Large enough for a multipart upload with 16 MiB parts, short in the
	// second part.
	err = s.Put(t.Context(), "short/large", RandomReader(1, 18<<20), 20<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of a short large body: %v, want io.ErrUnexpectedEOF", err)
	}
	wantMissing(t, s, "short/large")
	// A short body ending exactly on a part boundary.
	err = s.Put(t.Context(), "short/large", RandomReader(1, 16<<20), 20<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of a body ending at a part boundary: %v, want io.ErrUnexpectedEOF", err)
	}
	wantMissing(t, s, "short/large")
	if got := keys(t, s, ""); !slices.Equal(got, []string{"short/existing"}) {
		t.Fatalf("List after failed Puts = %q", got)
	}
}

func testLongBody(t *testing.T, s storage.Store) {
	if err := s.Put(t.Context(), "long", strings.NewReader("0123456789+"), 10); err == nil {
		t.Fatalf("Put of a body longer than its size: no error")
	}
}

func testBodyError(t *testing.T, s storage.Store) {
	boom := errors.New("client went away")
	put(t, s, "body/existing", []byte("kept"))
	for _, key := range []string{"body/existing", "body/new"} {
		err := s.Put(t.Context(), key, &errReader{n: 1000, err: boom}, 5000)
		if !errors.Is(err, boom) {
			t.Fatalf("Put(%q) of a failing body: %v, want the body's error", key, err)
		}
	}
	wantContent(t, s, "body/existing", []byte("kept"))
	wantMissing(t, s, "body/new")
}

func testCancelled(t *testing.T, s storage.Store) {
	put(t, s, "c/existing", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "c/new", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v, want context.Canceled", err)
	}
	if rc, err := s.Get(ctx, "c/existing", 0, -1); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get: %v, want context.Canceled", err)
	}
	if _, err := s.Stat(ctx, "c/existing"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, "c/existing"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v, want context.Canceled", err)
	}
	err := s.List(ctx, "", func(storage.ObjectInfo) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v, want context.Canceled", err)
	}
	wantMissing(t, s, "c/new")
	wantContent(t, s, "c/existing", []byte("x"))
}

func testCancelledMidPut(t *testing.T, s storage.Store) {
	for _, size := range []int64{1 << 20, 20 << 20} {
		key := fmt.Sprintf("cancel/%d", size)
		ctx, cancel := context.WithCancel(t.Context())
		r := HookReader(RandomReader(7, size), size/2+size/4, cancel)
		err := s.Put(ctx, key, r, size)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put of %d bytes cancelled midway: %v, want context.Canceled", size, err)
		}
		wantMissing(t, s, key)
	}
}

func testConcurrent(t *testing.T, s storage.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("conc/%d/obj-%d", i%3, i)
			size := int64(1000 + i*50_000)
			errs[i] = s.Put(t.Context(), key, RandomReader(uint64(i), size), size)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	for i := range n {
		key := fmt.Sprintf("conc/%d/obj-%d", i%3, i)
		size := int64(1000 + i*50_000)
		rc, err := s.Get(t.Context(), key, 0, -1)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		if err := SameContent(rc, RandomReader(uint64(i), size)); err != nil {
			t.Errorf("Get(%q): %v", key, err)
		}
		rc.Close()
	}
	if got := keys(t, s, "conc/"); len(got) != n {
		t.Fatalf("List found %d objects, want %d", len(got), n)
	}
}
