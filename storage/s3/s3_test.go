package s3_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/s3"
	"github.com/imgcloud/gateway/storage/storagetest"
)

func TestConformance(t *testing.T) {
	srv := server(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, config(srv)) })
}

func TestPrefix(t *testing.T) {
	srv := server(t)
	cfg := config(srv)
	plain := open(t, cfg)
	cfg.Prefix = "/tenant-a/"
	a := open(t, cfg)
	cfg.Prefix = "tenant-b"
	b := open(t, cfg)
	ctx := t.Context()
	for _, s := range []storage.Store{a, b} {
		if err := s.Put(ctx, "records/x.json", strings.NewReader("{}"), 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Delete(ctx, "records/x.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "records/x.json"); err != nil {
		t.Fatalf("object under the other prefix: %v", err)
	}
	var got []string
	plain.List(ctx, "", func(info storage.ObjectInfo) error {
		got = append(got, info.Key)
		return nil
	})
	if !slices.Equal(got, []string{"tenant-b/records/x.json"}) {
		t.Fatalf("bucket holds %q", got)
	}
	got = nil
	b.List(ctx, "rec", func(info storage.ObjectInfo) error {
		got = append(got, info.Key)
		return nil
	})
	if !slices.Equal(got, []string{"records/x.json"}) {
		t.Fatalf("List with a prefix store = %q", got)
	}
}

func TestPresignGet(t *testing.T) {
	s := open(t, config(server(t)))
	ctx := t.Context()
	for key, ctype := range map[string]string{"a/b.dcm": "application/dicom", "a/b.json": "application/octet-stream"} {
		if err := s.Put(ctx, key, strings.NewReader("content"), 7); err != nil {
			t.Fatal(err)
		}
		u, err := s.PresignGet(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "content" {
			t.Fatalf("GET presigned %s: %s %q", key, resp.Status, body)
		}
		if got := resp.Header.Get("Content-Type"); got != ctype {
			t.Errorf("Content-Type of %s = %q, want %q", key, got, ctype)
		}
	}
}

func TestOpenExistingBucket(t *testing.T) {
	cfg := config(server(t))
	a := open(t, cfg)
	if err := a.Put(t.Context(), "k", strings.NewReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	b := open(t, cfg)
	if _, err := b.Stat(t.Context(), "k"); err != nil {
		t.Fatalf("object through a second Open: %v", err)
	}
}

func TestOpenBadConfig(t *testing.T) {
	srv := server(t)
	for name, mod := range map[string]func(*s3.Config){
		"scheme":    func(c *s3.Config) { c.Endpoint = "http://" + c.Endpoint },
		"no bucket": func(c *s3.Config) { c.Bucket = "" },
		"part size": func(c *s3.Config) { c.PartSize = 1 << 20 },
		"prefix":    func(c *s3.Config) { c.Prefix = "../x" },
		"bucket":    func(c *s3.Config) { c.Bucket = "Bad_Bucket" },
	} {
		cfg := config(srv)
		mod(&cfg)
		if s, err := s3.Open(t.Context(), cfg); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	srv := server(t)
	for name, mod := range map[string]func(*s3.Config){
		"secret":     func(c *s3.Config) { c.SecretKey = "wrong-secret-key" },
		"access key": func(c *s3.Config) { c.AccessKey = "nobody" },
	} {
		cfg := config(srv)
		mod(&cfg)
		start := time.Now()
		_, err := s3.Open(t.Context(), cfg)
		if err == nil {
			t.Fatalf("wrong %s: Open succeeded", name)
		}
		t.Logf("wrong %s (%v): %v", name, time.Since(start).Round(time.Millisecond), err)
		if !strings.Contains(err.Error(), "access denied (check access key / secret)") ||
			!strings.Contains(err.Error(), "bucket check at "+srv.Endpoint) {
			t.Errorf("wrong %s: unclear error %q", name, err)
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("wrong %s: %v does not wrap ErrUnavailable", name, err)
		}
	}
}

func TestNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = s3.Open(t.Context(), s3.Config{Endpoint: endpoint, Bucket: "bucket", AccessKey: "k", SecretKey: "secretsecret"})
	elapsed := time.Since(start)
	t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Open of %s: %v, want ErrUnavailable", endpoint, err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("Open took %v", elapsed)
	}
}

// TestOutage stops its own server in the middle of a 40 MiB streaming Put,
// from another goroutine while the body is being read, and checks that the
// Put fails as unavailable, that the object is never left partial, and that
// the store works again after a restart.
func TestOutage(t *testing.T) {
	server(t) // skip without a binary
	srv := miniotest.Start(t)
	const size = storagetest.LargeSize
	cases := []struct {
		name     string
		partSize uint64
		kill     bool
	}{
		{"multipart/stop", 16 << 20, false},
		{"single/kill", 64 << 20, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(srv)
			cfg.PartSize = c.partSize
			cfg.MaxRetries = 2
			s := open(t, cfg)
			ctx := t.Context()
			kept := bytes.Repeat([]byte("kept "), 1000)
			if err := s.Put(ctx, "before/kept", bytes.NewReader(kept), int64(len(kept))); err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			stop := func() {
				go func() {
					if c.kill {
						stopped <- srv.Kill()
					} else {
						stopped <- srv.Stop()
					}
				}()
				if err := <-stopped; err != nil {
					t.Errorf("stop server: %v", err)
				}
			}
			seed := uint64(100 + i)
			start := time.Now()
			err := s.Put(ctx, "mid/object.dcm", storagetest.HookReader(storagetest.RandomReader(seed, size), size/2, stop), size)
			t.Logf("Put after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("Put during the outage: %v, want ErrUnavailable", err)
			}
			if _, err := s.Stat(ctx, "before/kept"); !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Stat while down: %v, want ErrUnavailable", err)
			}
			if rc, err := s.Get(ctx, "before/kept", 0, -1); !errors.Is(err, storage.ErrUnavailable) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Get while down: %v, want ErrUnavailable", err)
			}
			if err := s.List(ctx, "", func(storage.ObjectInfo) error { return nil }); !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("List while down: %v, want ErrUnavailable", err)
			}

			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			info, err := s.Stat(ctx, "mid/object.dcm")
			switch {
			case errors.Is(err, storage.ErrNotFound):
			case err != nil:
				t.Fatalf("Stat after restart: %v", err)
			case info.Size != size:
				t.Fatalf("partial object after restart: %d of %d bytes", info.Size, size)
			default:
				rc, err := s.Get(ctx, "mid/object.dcm", 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				if err := storagetest.SameContent(rc, storagetest.RandomReader(seed, size)); err != nil {
					t.Fatalf("object after restart: %v", err)
				}
			}
			if got := get(t, s, "before/kept"); !bytes.Equal(got, kept) {
				t.Fatalf("earlier object changed: %d bytes", len(got))
			}
			if err := s.Put(ctx, "after/new", storagetest.RandomReader(seed, size), size); err != nil {
				t.Fatalf("Put after restart: %v", err)
			}
			rc, err := s.Get(ctx, "after/new", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if err := storagetest.SameContent(rc, storagetest.RandomReader(seed, size)); err != nil {
				t.Fatalf("object put after restart: %v", err)
			}
		})
	}
}

// get reads key whole.
func get(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkPutGet(b *testing.B) {
	storagetest.Bench(b, open(b, config(server(b))))
}
