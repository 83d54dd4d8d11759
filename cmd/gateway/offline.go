package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/progress"
	"github.com/imgcloud/gateway/storage"
)

// offline is what the maintenance commands (reindex, fsck) work on: the
// object store, the index and an archive over them, opened without a
// server (Badger allows one process per index: stop the gateway first).
type offline struct {
	store storage.Store
	db    index.Store
	svc   *archive.Service
}

// offlineFlags are the settings of serve an offline command uses: the
// data folder, the object store and logging. It registers them all (the
// gateway's config file works unchanged) but lists only these in -h.
func offlineFlags() []string {
	return []string{"config", "data", "store", "s3-endpoint", "s3-bucket", "s3-access-key", "s3-secret-key", "s3-region",
		"s3-prefix", "s3-tls", "s3-path-style", "index", "index-max-conns", "index-statement-timeout", "default-charset", "memory-limit", "log-json", "debug"}
}

// offlineCacheBytes bounds the index's row caches in the offline commands.
const offlineCacheBytes = 8 << 20

// openOffline opens the configured store and the index under cfg.Data;
// freshIndex deletes the index folder first.
func openOffline(ctx context.Context, cfg Config, freshIndex bool, stderr io.Writer) (*offline, error) {
	log := newLogger(stderr, cfg.LogJSON, cfg.Debug)
	// A reindex's compactions would otherwise grow the heap to twice
	// their peak (GOGC).
	applyMemoryLimit(cfg, log)
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Index.Postgres() {
		return openOfflinePostgres(ctx, cfg, store, freshIndex, stderr) // indexbackend.go
	}
	dir := filepath.Join(cfg.Data, "index")
	if freshIndex {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	// Reindex and fsck read each row once: caches of a few MB are enough,
	// and leave the heap to Badger's compactions.
	db, err := index.Open(index.Options{Dir: dir, CacheBytes: offlineCacheBytes})
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("the index %s is in use, probably by a running gateway: stop it first (the index allows one process): %w", dir, err)
	}
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(cfg.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	svc := archive.New(store, db, archive.Options{TempDir: tmp, Visibility: archive.Unrestricted{}, DefaultCharset: cfg.DefaultCharset, Logger: log})
	return &offline{store: store, db: db, svc: svc}, nil
}

func (o *offline) Close() error { return o.db.Close() }

// progressFunc returns a progress callback drawing a bar on w (with the
// total once it is known: 0 means not yet), and a function that finishes
// it.
func progressFunc(w io.Writer, label string) (func(done, total int), func()) {
	var bar *progress.Bar
	known := 0
	return func(done, total int) {
			if bar == nil {
				bar = progress.New(w, int64(total), label)
				known = total
			}
			if total != known { // a total known only once a listing has ended
				bar.SetTotal(int64(total))
				known = total
			}
			bar.Add(1)
		}, func() {
			if bar != nil {
				bar.Finish()
			}
		}
}
