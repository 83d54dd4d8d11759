package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
)

// DICOMConfig configures the DICOM network service (DIMSE). It is off
// when Listen is empty.
type DICOMConfig struct {
	Listen         string
	AET            string
	AEsFile        string
	CheckCalledAET bool
	// MaxAssociations bounds associations at once; one calling AE holds
	// at most a quarter of them.
	MaxAssociations int
	IdleTimeout     time.Duration
	// TLS is the DICOM TLS port (dicomtls.go).
	TLS DICOMTLSConfig
}

// demoAE is the AE --demo registers: DCMTK tools on the gateway's machine
// act for the demo's Peking Union Medical College Hospital; as a C-MOVE
// destination it is `movescu +P 11113` (or a storescp on that port).
var demoAE = access.AE{AET: "DEMO", Host: "127.0.0.1", Port: 11113, Institution: "pumch",
	Allow: []access.Operation{access.OpStore, access.OpQuery, access.OpRetrieve}}

func defaultDICOM() DICOMConfig {
	return DICOMConfig{AET: "IMGCLOUD", MaxAssociations: 64, IdleTimeout: 5 * time.Minute}
}

func bindDICOM(fs *flag.FlagSet, c *DICOMConfig) {
	str(fs, &c.Listen, "dicom-listen", "DICOM (DIMSE) port, host:port (off when empty)")
	str(fs, &c.AET, "dicom-aet", "the gateway's DICOM AE title")
	str(fs, &c.AEsFile, "dicom-aes", "YAML list of known AEs: - {aet: X, host: IP, port: N, institution: ID, allow: [store, query, retrieve]}")
	boolean(fs, &c.CheckCalledAET, "dicom-check-called-aet", "reject associations whose called AE title is not --dicom-aet")
	intv(fs, &c.MaxAssociations, "dicom-max-associations", "DICOM associations served at once (one calling AE holds at most a quarter)")
	duration(fs, &c.IdleTimeout, "dicom-idle-timeout", "abort a DICOM association idle this long")
	bindDICOMTLS(fs, &c.TLS)
}

func (c DICOMConfig) validate() error {
	if err := c.TLS.validate(); err != nil {
		return err
	}
	switch {
	case c.Listen == "" && c.TLS.Listen == "":
		return nil
	case c.AET == "" || len(c.AET) > 16:
		return fmt.Errorf("dicom-aet: %q must be 1 to 16 characters", c.AET)
	case c.MaxAssociations <= 0:
		return errors.New("dicom-max-associations: must be positive")
	case c.IdleTimeout <= 0:
		return errors.New("dicom-idle-timeout: must be positive")
	}
	return nil
}

// loadAEs reads the known-AE file and adds the demo AE with --demo.
func loadAEs(cfg Config) ([]access.AE, error) {
	var list []access.AE
	if cfg.DICOM.AEsFile != "" {
		b, err := os.ReadFile(cfg.DICOM.AEsFile)
		if err != nil {
			return nil, fmt.Errorf("dicom-aes: %w", err)
		}
		if list, err = access.ParseAEs(b); err != nil {
			return nil, fmt.Errorf("dicom-aes %s: %w", cfg.DICOM.AEsFile, err)
		}
	}
	if cfg.Demo {
		list = append(list, demoAE)
	}
	return list, nil
}

// openAEs is the known-AE directory: the file's entries (read-only) and
// those the admin API keeps as records (nil when DICOM is off).
func openAEs(ctx context.Context, cfg Config, rec access.AEStore) (*access.AEDirectory, error) {
	if cfg.DICOM.Listen == "" && cfg.DICOM.TLS.Listen == "" {
		return nil, nil
	}
	list, err := loadAEs(cfg)
	if err != nil {
		return nil, err
	}
	d, err := access.NewAEDirectory(ctx, list, rec)
	if err != nil {
		return nil, fmt.Errorf("dicom-aes: %w", err)
	}
	return d, nil
}

// setupDICOM builds the DICOM service on the archive (nil when off).
func setupDICOM(cfg Config, p *parts, log *slog.Logger) (*scp.Service, error) {
	if cfg.DICOM.Listen == "" && cfg.DICOM.TLS.Listen == "" {
		return nil, nil
	}
	clientTLS, err := cfg.DICOM.TLS.clientConfig()
	if err != nil {
		return nil, err
	}
	aes := p.aes.AEs()
	if cfg.DICOM.TLS.ClientCA == "" {
		for _, e := range p.aes.List() {
			if e.TLS {
				log.Warn("AE marked tls but no --dicom-tls-client-ca: its associations will be rejected (no client certificate can be verified)", "aet", e.AET)
			}
		}
	}
	if aes.Len() == 0 {
		log.Warn("DICOM port on but no known AE: every association will be rejected (give --dicom-aes, or add AEs under /api/v1/admin/dicom-aes)")
	}
	return scp.New(scp.Options{
		AETitle: cfg.DICOM.AET, CheckCalledAET: cfg.DICOM.CheckCalledAET, AEs: aes,
		Archive: p.archive, Audit: p.access.audit, PersonKeyOf: p.rs.PersonKeyOf,
		// Destinations that accept only native syntaxes get compressed
		// instances decoded, with the codecs the archive serves WADO with.
		Transcoder: scp.DecodingTranscoder{Archive: p.archive},
		Registerer: p.metrics.Registry, Logger: log.With("component", "dimse"), ClientTLS: clientTLS,
		Server: dimse.Options{
			MaxAssociations: cfg.DICOM.MaxAssociations, IdleTimeout: cfg.DICOM.IdleTimeout,
			MaxDataSetBytes: cfg.MaxInstanceBytes, SpoolDir: filepath.Join(cfg.Data, "tmp"),
		},
	})
}

// serveDICOM listens on the DICOM port and the DICOM TLS port (each when
// set) and serves until ctx ends; the returned stop aborts open
// associations.
func serveDICOM(ctx context.Context, svc *scp.Service, cfg DICOMConfig, stdout io.Writer, log *slog.Logger, errc chan<- error) (func(context.Context), error) {
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen %s (DICOM): %w", cfg.Listen, err)
		}
		lns = append(lns, ln)
		log.Info("DICOM listening", "addr", ln.Addr().String())
		fmt.Fprintf(stdout, "gateway: serving DICOM (DIMSE) at %s\n", ln.Addr())
	}
	if cfg.TLS.Listen != "" {
		ln, err := listenDICOMTLS(cfg.TLS) // dicomtls.go
		if err != nil {
			closeAll()
			return nil, err
		}
		lns = append(lns, ln)
		log.Info("DICOM TLS listening", "addr", ln.Addr().String())
		fmt.Fprintf(stdout, "gateway: serving DICOM TLS at %s\n", ln.Addr())
	}
	for _, ln := range lns {
		go func() {
			if err := svc.Serve(ctx, ln); err != nil {
				errc <- err
			}
		}()
	}
	return func(sctx context.Context) {
		closeAll()
		if err := svc.Close(sctx); err != nil {
			log.Error("close DICOM service", "err", err)
		}
	}, nil
}
