package federation

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure New. Zero values take the defaults in brackets.
type Options struct {
	// Name is this gateway's name: its key id in the peers' files.
	Name string
	// Province is this gateway's GB/T 2260 province code.
	Province string
	// Key signs this gateway's requests and answers.
	Key ed25519.PrivateKey
	// Peers are the gateways this one asks and accepts requests from.
	Peers []Peer
	// PublicURL is this gateway's service root as its peers reach it (the
	// url in their peers files, e.g. https://imgcloud.bj.example.cn/dicomweb).
	// Its host is the @authority a peer's request signature must cover;
	// empty: the Host a request arrived with (set it behind a reverse
	// proxy that rewrites Host).
	PublicURL string
	// Timeout is the per-peer deadline of a federated search [2s].
	Timeout time.Duration
	// RetrieveTimeout bounds a whole retrieve through a peer [10m];
	// HeaderTimeout bounds the wait for its first byte [10s].
	RetrieveTimeout time.Duration
	HeaderTimeout   time.Duration
	// Skew is the clock difference allowed on request signatures [1m].
	Skew time.Duration
	// MaxAnswerBytes bounds a peer's search answer [8 MiB];
	// MaxMetadataBytes a JSON answer relayed by the retrieve proxy
	// (metadata, series and instance searches) [64 MiB]; MaxRetrieveBytes
	// a relayed binary answer (instances, frames, rendered) [8 GiB].
	MaxAnswerBytes   int64
	MaxMetadataBytes int64
	MaxRetrieveBytes int64
	// MaxResults is the most studies taken from one peer's answer [1000].
	MaxResults int
	// MaxInFlight is the most concurrent requests to one peer [64].
	MaxInFlight int
	// NonceCacheSize bounds the replay cache [100000].
	NonceCacheSize int
	// Admit, when set, may refuse an asking institution a peer names, e.g.
	// one registered here in another province than the peer's.
	Admit func(p Peer, institution string) error
	// Registerer receives the peer status collectors (optional).
	Registerer prometheus.Registerer
	// Transport carries requests to peers (default: a dedicated one with
	// timeouts and no proxy from the environment).
	Transport http.RoundTripper
	Now       func() time.Time
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 2*time.Second)
	def(&o.RetrieveTimeout, 10*time.Minute)
	def(&o.HeaderTimeout, 10*time.Second)
	def(&o.Skew, time.Minute)
	def64 := func(d *int64, v int64) {
		if *d <= 0 {
			*d = v
		}
	}
	def64(&o.MaxAnswerBytes, 8<<20)
	def64(&o.MaxMetadataBytes, 64<<20)
	def64(&o.MaxRetrieveBytes, 8<<30)
	if o.MaxResults <= 0 {
		o.MaxResults = 1000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.NonceCacheSize <= 0 {
		o.NonceCacheSize = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service is this gateway's side of federation.
type Service struct {
	opt    Options
	peers  map[string]Peer
	order  []Peer // configuration order: merge order and "all"
	slots  map[string]chan struct{}
	signer *Signer
	client *http.Client
	nonces *nonceCache
	// authority is PublicURL's host, normalised ("" if unset).
	authority string
	status    *tracker
	log       *slog.Logger
	now       func() time.Time
}

// New checks the identity and peers and builds the service.
func New(opt Options) (*Service, error) {
	opt.defaults()
	switch {
	case !nameRE.MatchString(opt.Name):
		return nil, fmt.Errorf("%w: federation-name %q: use 1-32 lower-case letters, digits and dashes", ErrConfig, opt.Name)
	case !provinceRE.MatchString(opt.Province):
		return nil, fmt.Errorf("%w: federation-province %q must be a six-digit GB/T 2260 code such as 110000", ErrConfig, opt.Province)
	case len(opt.Key) != ed25519.PrivateKeySize:
		return nil, fmt.Errorf("%w: no Ed25519 key", ErrConfig)
	}
	s := &Service{
		opt: opt, peers: map[string]Peer{}, slots: map[string]chan struct{}{},
		signer: &Signer{Name: opt.Name, Key: opt.Key, Now: opt.Now},
		nonces: newNonceCache(2*opt.Skew, opt.NonceCacheSize),
		log:    opt.Logger, now: opt.Now,
	}
	if opt.PublicURL != "" {
		u, err := url.Parse(opt.PublicURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: public-url %q has no host for peers' signatures to cover", ErrConfig, opt.PublicURL)
		}
		s.authority = normAuthority(u.Host)
	}
	for _, p := range opt.Peers {
		if p.Name == opt.Name {
			return nil, fmt.Errorf("%w: peer %q has this gateway's own name", ErrConfig, p.Name)
		}
		if _, dup := s.peers[p.Name]; dup {
			return nil, fmt.Errorf("%w: peer %q is listed twice", ErrConfig, p.Name)
		}
		s.peers[p.Name] = p
		s.order = append(s.order, p)
		s.slots[p.Name] = make(chan struct{}, opt.MaxInFlight)
	}
	tr := opt.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 nil, // peers are reached directly, never through an environment proxy
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: opt.HeaderTimeout,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true, // hash exactly the bytes the holder signed
			ForceAttemptHTTP2:     true,
		}
	}
	s.client = &http.Client{
		Transport: tr,
		// A peer's redirect could point anywhere: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.status = newTracker(s.order, opt.Registerer, opt.Now)
	return s, nil
}

// Name is this gateway's federation name.
func (s *Service) Name() string { return s.opt.Name }

// Province is this gateway's province code.
func (s *Service) Province() string { return s.opt.Province }

// PublicKey is this gateway's public key, for the peers' files.
func (s *Service) PublicKey() ed25519.PublicKey { return s.opt.Key.Public().(ed25519.PublicKey) }

// Peers returns the configured peers in configuration order.
func (s *Service) Peers() []Peer { return append([]Peer(nil), s.order...) }

// Peer returns the peer of that name, or an error wrapping ErrUnknownPeer.
func (s *Service) Peer(name string) (Peer, error) {
	p, ok := s.peers[name]
	if !ok {
		return Peer{}, fmt.Errorf("%w: %q", ErrUnknownPeer, truncate(name, 40))
	}
	return p, nil
}

// Scope resolves a federation scope: "all" or "true" for every peer, or a
// comma-separated list of peer names.
func (s *Service) Scope(spec string) ([]Peer, error) {
	spec = strings.TrimSpace(spec)
	switch strings.ToLower(spec) {
	case "all", "true", "1":
		return s.Peers(), nil
	case "":
		return nil, fmt.Errorf("%w: empty: use all or peer names", ErrBadScope)
	}
	var out []Peer
	seen := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		if seen[n] {
			continue
		}
		p, ok := s.peers[n]
		if !ok {
			return nil, fmt.Errorf("%w: no peer named %q", ErrBadScope, truncate(n, 40))
		}
		seen[n] = true
		out = append(out, p)
	}
	return out, nil
}

// Close releases idle connections to peers.
func (s *Service) Close() { s.client.CloseIdleConnections() }

// acquire takes one of the peer's in-flight slots.
func (s *Service) acquire(p Peer) (release func(), ok bool) {
	ch := s.slots[p.Name]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true
	default:
		return nil, false
	}
}
