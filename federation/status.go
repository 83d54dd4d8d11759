package federation

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PeerStatus is what this gateway knows of a peer's health, for GET
// /api/v1/admin/federation/peers.
type PeerStatus struct {
	Name     string `json:"name"`
	Province string `json:"province"`
	URL      string `json:"url"`
	// PublicKey is the configured key (base64).
	PublicKey string `json:"public_key"`
	// Up: the last call succeeded.
	Up            bool       `json:"up"`
	LastSuccess   *time.Time `json:"last_success,omitempty"`
	LastFailure   *time.Time `json:"last_failure,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastLatencyMS float64    `json:"last_latency_ms"`
	Requests      uint64     `json:"requests"`
	Failures      uint64     `json:"failures"`
}

// tracker records calls to peers and exports them to Prometheus.
type tracker struct {
	mu  sync.Mutex
	now func() time.Time
	by  map[string]*PeerStatus
	ord []string

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	up          *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	inboundReqs *prometheus.CounterVec
}

func newTracker(peers []Peer, reg prometheus.Registerer, now func() time.Time) *tracker {
	t := &tracker{
		now: now, by: map[string]*PeerStatus{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_federation_peer_requests_total",
			Help: "Requests to peer gateways, by peer and outcome (ok, timeout, unreachable, status, provenance, invalid, busy, canceled).",
		}, []string{"peer", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_federation_peer_request_duration_seconds",
			Help:    "Latency of requests to peer gateways (searches to the whole answer, retrieves to the first byte).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10},
		}, []string{"peer"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_federation_peer_up", Help: "1 if the last request to the peer succeeded.",
		}, []string{"peer"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_federation_peer_last_success_timestamp_seconds", Help: "Unix time of the last successful request to the peer.",
		}, []string{"peer"}),
		inboundReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_federation_inbound_requests_total",
			Help: "Signed requests from peers, by peer (\"unknown\" for unknown keys) and outcome (ok or the refusal reason).",
		}, []string{"peer", "outcome"}),
	}
	for _, p := range peers {
		t.by[p.Name] = &PeerStatus{Name: p.Name, Province: p.Province, URL: p.URL, PublicKey: EncodePublicKey(p.PublicKey)}
		t.ord = append(t.ord, p.Name)
		t.up.WithLabelValues(p.Name).Set(0)
	}
	if reg != nil {
		reg.MustRegister(t.requests, t.latency, t.up, t.lastSuccess, t.inboundReqs)
	}
	return t
}

// record notes the outcome of one call to peer.
func (t *tracker) record(peer string, latency time.Duration, err error) {
	outcome := "ok"
	var pe *PeerError
	if errors.As(err, &pe) {
		outcome = pe.Kind
	} else if err != nil {
		outcome = KindInvalid
	}
	t.requests.WithLabelValues(peer, outcome).Inc()
	if outcome == KindCanceled {
		return // the client left: says nothing about the peer
	}
	t.latency.WithLabelValues(peer).Observe(latency.Seconds())
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.by[peer]
	if st == nil {
		return
	}
	st.Requests++
	st.LastLatencyMS = float64(latency.Microseconds()) / 1000
	if err == nil {
		st.Up, st.LastSuccess = true, &now
		t.up.WithLabelValues(peer).Set(1)
		t.lastSuccess.WithLabelValues(peer).Set(float64(now.UnixNano()) / 1e9)
		return
	}
	st.Up, st.LastFailure, st.LastError = false, &now, err.Error()
	st.Failures++
	t.up.WithLabelValues(peer).Set(0)
}

// inbound counts a signed request from a peer.
func (t *tracker) inbound(peer, outcome string) {
	t.inboundReqs.WithLabelValues(peer, outcome).Inc()
}

// Status returns a copy of every peer's status, in configuration order.
func (s *Service) Status() []PeerStatus {
	t := s.status
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerStatus, 0, len(t.ord))
	for _, n := range t.ord {
		out = append(out, *t.by[n])
	}
	return out
}
