package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
)

// DICOMTLSConfig configures the DICOM TLS port (PS3.15 B.1, the secure
// transport connection profile): TLS 1.2 or later with the gateway's
// certificate; client certificates are verified against ClientCA when
// given, and AEs marked tls in the registry must present one.
type DICOMTLSConfig struct {
	Listen   string
	Cert     string
	Key      string
	ClientCA string
}

func bindDICOMTLS(fs *flag.FlagSet, c *DICOMTLSConfig) {
	str(fs, &c.Listen, "dicom-tls-listen", "DICOM TLS port, host:port (off when empty; needs --dicom-tls-cert and --dicom-tls-key)")
	str(fs, &c.Cert, "dicom-tls-cert", "PEM certificate (chain) of the gateway on the DICOM TLS port, also its client certificate towards AEs marked tls")
	str(fs, &c.Key, "dicom-tls-key", "PEM private key of --dicom-tls-cert")
	str(fs, &c.ClientCA, "dicom-tls-client-ca", "PEM CA certificates that sign AEs' client certificates (AEs marked tls need one); also trusted for AEs the gateway calls")
}

func (c DICOMTLSConfig) validate() error {
	switch {
	case c.Listen == "":
		return nil
	case c.Cert == "" || c.Key == "":
		return errors.New("dicom-tls-listen: needs --dicom-tls-cert and --dicom-tls-key")
	}
	return nil
}

// serverConfig is the TLS configuration of the DICOM TLS port.
func (c DICOMTLSConfig) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("dicom-tls-cert: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCA != "" {
		pool, err := loadPool(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("dicom-tls-client-ca: %w", err)
		}
		// A certificate, when sent, must verify; whether one is required
		// is the AE's rule (access.AE.CheckTransport).
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// clientConfig is the TLS configuration of associations the gateway
// opens to AEs marked tls (nil without a certificate): its certificate,
// and the client CAs trusted besides the system's roots.
func (c DICOMTLSConfig) clientConfig() (*tls.Config, error) {
	if c.Cert == "" || c.Key == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("dicom-tls-cert: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("dicom-tls-client-ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("dicom-tls-client-ca %s: no PEM certificate", c.ClientCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// listenDICOMTLS opens the DICOM TLS port.
func listenDICOMTLS(c DICOMTLSConfig) (net.Listener, error) {
	cfg, err := c.serverConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s (DICOM TLS): %w", c.Listen, err)
	}
	return tls.NewListener(ln, cfg), nil
}
