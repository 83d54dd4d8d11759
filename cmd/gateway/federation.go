package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/httpapi/fedapi"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/internal/metrics"
	"github.com/imgcloud/gateway/recognition"
)

// FederationConfig is this gateway's identity among the provinces'
// gateways and its peers. Federation is on when Name is set.
type FederationConfig struct {
	Name      string
	Province  string
	KeyFile   string // default {data}/secrets/federation.key
	PeersFile string
	// Timeout is the per-peer deadline of a federated search.
	Timeout         time.Duration
	RetrieveTimeout time.Duration
	Skew            time.Duration
	MaxAnswerBytes  int64
	MaxResults      int
}

func defaultFederation() FederationConfig {
	return FederationConfig{Timeout: 2 * time.Second, RetrieveTimeout: 10 * time.Minute, Skew: time.Minute,
		MaxAnswerBytes: 8 << 20, MaxResults: 1000}
}

func bindFederation(fs *flag.FlagSet, c *FederationConfig) {
	str(fs, &c.Name, "federation-name", "this gateway's name among peer gateways (enables federation)")
	str(fs, &c.Province, "federation-province", "this gateway's province, GB/T 2260 code (e.g. 110000)")
	str(fs, &c.KeyFile, "federation-key", "Ed25519 private key (PKCS#8 PEM), created with mode 0600 if absent (default {data}/secrets/federation.key)")
	str(fs, &c.PeersFile, "peers", "peer gateways file (YAML or JSON): name, province, url, public_key")
	duration(fs, &c.Timeout, "federation-timeout", "per-peer deadline of a federated search")
	duration(fs, &c.RetrieveTimeout, "federation-retrieve-timeout", "deadline of a retrieve through a peer")
	duration(fs, &c.Skew, "federation-skew", "clock skew allowed on peers' request signatures")
	int64v(fs, &c.MaxAnswerBytes, "federation-max-answer-bytes", "largest search answer taken from one peer")
	intv(fs, &c.MaxResults, "federation-max-results", "most studies taken from one peer's answer")
}

// validate names the first wrong field.
func (c FederationConfig) validate() error {
	if c.Name == "" {
		if c.PeersFile != "" {
			return errors.New("peers: set --federation-name (and --federation-province) to use peers")
		}
		return nil
	}
	switch {
	case c.Province == "":
		return errors.New("federation-province: a GB/T 2260 code such as 110000 is required with --federation-name")
	case c.Timeout <= 0 || c.RetrieveTimeout <= 0 || c.Skew <= 0:
		return errors.New("federation-timeout, federation-retrieve-timeout and federation-skew must be positive")
	}
	return nil
}

// federationParts are what setupFederation builds; nil when federation
// is off.
type federationParts struct {
	svc *federation.Service
	api *fedapi.API
}

// setupFederation loads the key (creating it on first start) and the
// peers, and builds the service with its collectors on m's registry.
// publicURL (--public-url) names the host peers' signatures must cover.
func setupFederation(cfg FederationConfig, data, publicURL string, rs *recognition.Service, m *metrics.Metrics, stdout io.Writer, log *slog.Logger) (*federationParts, error) {
	if cfg.Name == "" {
		return nil, nil
	}
	keyFile := cfg.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(data, "secrets", "federation.key")
	}
	key, created, err := federation.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("federation-key: %w", err)
	}
	var peers []federation.Peer
	if cfg.PeersFile != "" {
		if peers, err = federation.LoadPeers(cfg.PeersFile); err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
	}
	svc, err := federation.New(federation.Options{
		Name: cfg.Name, Province: cfg.Province, Key: key, Peers: peers, PublicURL: publicURL,
		Timeout: cfg.Timeout, RetrieveTimeout: cfg.RetrieveTimeout, Skew: cfg.Skew,
		MaxAnswerBytes: cfg.MaxAnswerBytes, MaxResults: cfg.MaxResults,
		Admit: admitInstitution(rs), Registerer: m.Registry, Logger: log.With("component", "federation"),
	})
	if err != nil {
		return nil, err
	}
	pub := federation.EncodePublicKey(svc.PublicKey())
	if created {
		log.Info("federation key created", "file", keyFile)
	}
	log.Info("federation on", "name", cfg.Name, "province", cfg.Province, "peers", len(peers), "public_key", pub)
	fmt.Fprintf(stdout, "federation: %s (province %s), %d peers; public key %s\n", cfg.Name, cfg.Province, len(peers), pub)
	return &federationParts{svc: svc, api: &fedapi.API{Fed: svc, Logger: log.With("component", "federation")}}, nil
}

// wire mounts federation on the server options.
func (f *federationParts) wire(o *server.Options) {
	if f == nil {
		return
	}
	o.API = append(o.API, f.api.Register)
	o.DICOMweb.Searcher = f.api.Searcher // study searches ask the peers too
	o.Middleware = append(o.Middleware, f.api.Provenance)
	o.DICOMweb.Mount = append(o.DICOMweb.Mount, f.api.Mount)
}

// sessions are the authenticator's sessions federation adds: signed peer
// requests, tried before any other session.
func (f *federationParts) sessions() []auth.SessionFunc {
	if f == nil {
		return nil
	}
	return []auth.SessionFunc{f.svc.Session}
}

// rules are the access rules of federation's routes (none when off).
func (f *federationParts) rules() []access.Rules {
	if f == nil {
		return nil
	}
	return []access.Rules{access.Prefix(server.APIRoot, fedapi.AccessRules), access.Prefix("/dicomweb", fedapi.ProxyRules)}
}

// admitInstitution is the peer rule (access.PeerMayAskFor) over the
// recognition registry.
func admitInstitution(rs *recognition.Service) func(federation.Peer, string) error {
	province := func(institution string) string {
		if in, err := rs.Institution(institution); err == nil {
			return in.Province
		}
		return ""
	}
	return func(p federation.Peer, institution string) error {
		return access.PeerMayAskFor(province, p.Name, p.Province, institution)
	}
}
