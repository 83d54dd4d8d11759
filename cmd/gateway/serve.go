package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"time"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
	"github.com/imgcloud/gateway/storage/s3"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServe(fs, &cfg)
	help{usage: "gateway serve [flags]", summary: "run the gateway: DICOMweb at /dicomweb, the viewer at /, health and metrics",
		example: "gateway serve --demo                      # a trial on ./data with demo studies\ngateway serve --data /var/lib/gateway --listen 0.0.0.0:8080"}.install(fs)
	if err := parseSettings(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogJSON, cfg.Debug)
	slog.SetDefault(log)
	applyMemoryLimit(cfg, log)
	gw, err := assemble(ctx, cfg, stdout, log)
	if err != nil {
		return err
	}
	defer gw.close()
	e, db := gw.echo, gw.db
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	studies, _, instances := db.Counts()
	log.Info("gateway listening", "addr", ln.Addr().String(), "store", cfg.Store, "data", cfg.Data,
		"studies", studies, "instances", instances)
	fmt.Fprintf(stdout, "gateway: serving DICOMweb at http://%s/dicomweb and the viewer at http://%s/\n", ln.Addr(), ln.Addr())

	if cfg.DebugListen != "" {
		go servePprof(cfg.DebugListen, log)
	}
	errc := make(chan error, 3)
	if gw.dicom != nil {
		stop, err := serveDICOM(ctx, gw.dicom, cfg.DICOM, stdout, log, errc) // dicom.go
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
			defer cancel()
			stop(sctx)
		}()
	}
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, asJSON, debug bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if debug {
		opts.Level = slog.LevelDebug
	}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured object store.
func openStore(ctx context.Context, cfg Config) (storage.Store, error) {
	if cfg.Store == "s3" {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return s3.Open(octx, s3.Config{
			Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, AccessKey: cfg.S3.AccessKey,
			SecretKey: cfg.S3.SecretKey, Region: cfg.S3.Region, UseTLS: cfg.S3.TLS,
			PathStyle: cfg.S3.PathStyle, Prefix: cfg.S3.Prefix, ObjectLock: cfg.S3.ObjectLock,
		})
	}
	return file.Open(filepath.Join(cfg.Data, "objects"))
}

// spaceDirs are the folders whose volumes must keep room for STOW.
func spaceDirs(cfg Config) []string {
	dirs := []string{filepath.Join(cfg.Data, "tmp")}
	if !cfg.Index.Postgres() { // PostgreSQL minds its own disk
		dirs = append(dirs, filepath.Join(cfg.Data, "index"))
	}
	if cfg.Store == "file" {
		dirs = append(dirs, filepath.Join(cfg.Data, "objects"))
	}
	return dirs
}

// servePprof serves Go's profiles for operators, on its own listener so
// that the public port never exposes them.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("pprof listener", "err", err)
	}
}

// reportFacts answers the regulators' report from the index and the
// recognition registry.
type reportFacts struct {
	db index.Store
	rs *recognition.Service
}

func (f reportFacts) HoldingOf(ctx context.Context, study string) string {
	st, err := f.db.Study(study)
	if err != nil {
		return ""
	}
	return f.rs.StudyInstitution(ctx, st)
}

func (f reportFacts) Regions(institution string) []string { return f.rs.Regions(institution) }
