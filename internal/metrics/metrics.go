// Package metrics holds the gateway's Prometheus registry and the HTTP
// middleware that records every request by route, method and status.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is a registry with the gateway's collectors. It is created in
// main and passed down; there is no global registry.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.HistogramVec
	inflight prometheus.Gauge
	// Stored counts instances stored by STOW-RS, by outcome.
	Stored *prometheus.CounterVec
	// StoredBytes counts bytes of instances stored.
	StoredBytes prometheus.Counter
}

// New creates the registry, with Go runtime and process collectors, and
// index gauges read through counts.
func New(counts func() (studies, series, instances int)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		Stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_stow_instances_total", Help: "Instances received by STOW-RS, by outcome (stored, duplicate, failed).",
		}, []string{"outcome"}),
		StoredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_stow_bytes_total", Help: "Bytes of instances stored by STOW-RS.",
		}),
	}
	reg.MustRegister(m.requests, m.inflight, m.Stored, m.StoredBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if counts != nil {
		for i, name := range []string{"studies", "series", "instances"} {
			i := i
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gateway_index_" + name, Help: "Number of " + name + " in the index.",
			}, func() float64 {
				s, se, in := counts()
				return float64([]int{s, se, in}[i])
			}))
		}
	}
	return m
}

// CacheStat is one cache's figures for CacheStats (index.CacheStat; this
// package imports nothing of the module).
type CacheStat struct {
	Name         string
	Hits, Misses uint64
	Bytes        int
}

// CacheStats exports the hits, misses and estimated bytes of caches by
// name (the index's row caches), read through stats at each scrape.
func (m *Metrics) CacheStats(stats func() []CacheStat) {
	m.Registry.MustRegister(&cacheCollector{stats: stats,
		hits:   prometheus.NewDesc("gateway_index_cache_hits_total", "Reads served by a cache of decoded index rows.", []string{"cache"}, nil),
		misses: prometheus.NewDesc("gateway_index_cache_misses_total", "Reads a cache of decoded index rows did not hold.", []string{"cache"}, nil),
		bytes:  prometheus.NewDesc("gateway_index_cache_bytes", "Estimated memory held by a cache of decoded index rows.", []string{"cache"}, nil),
	})
}

type cacheCollector struct {
	stats               func() []CacheStat
	hits, misses, bytes *prometheus.Desc
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.bytes
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), s.Name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses), s.Name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes), s.Name)
	}
}

// CompressionStat is what compression at ingest did for one transfer
// syntax asked (archive.CompressionStat).
type CompressionStat struct {
	Syntax            string
	Instances         map[string]uint64 // by outcome
	BytesIn, BytesOut uint64
	Seconds           float64
}

// IngestCompression exports the instances by syntax and outcome, the
// bytes received and stored of those compressed (their ratio is the
// saving) and the time spent, read through stats at each scrape.
func (m *Metrics) IngestCompression(stats func() []CompressionStat) {
	m.Registry.MustRegister(&compressionCollector{stats: stats,
		instances: prometheus.NewDesc("gateway_ingest_compression_instances_total", "Instances whose storing institution asks for compression at ingest, by syntax asked and outcome (compressed, already_compressed, not_eligible, no_encoder, encode_failed, mismatch, not_smaller).", []string{"syntax", "outcome"}, nil),
		in:        prometheus.NewDesc("gateway_ingest_compression_received_bytes_total", "Bytes received of the instances stored compressed at ingest.", []string{"syntax"}, nil),
		out:       prometheus.NewDesc("gateway_ingest_compression_stored_bytes_total", "Bytes stored of the instances stored compressed at ingest.", []string{"syntax"}, nil),
		seconds:   prometheus.NewDesc("gateway_ingest_compression_seconds_total", "Time spent encoding and verifying at ingest.", []string{"syntax"}, nil),
	})
}

type compressionCollector struct {
	stats                       func() []CompressionStat
	instances, in, out, seconds *prometheus.Desc
}

func (c *compressionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.instances
	ch <- c.in
	ch <- c.out
	ch <- c.seconds
}

func (c *compressionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		for o, n := range s.Instances {
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.CounterValue, float64(n), s.Syntax, o)
		}
		ch <- prometheus.MustNewConstMetric(c.in, prometheus.CounterValue, float64(s.BytesIn), s.Syntax)
		ch <- prometheus.MustNewConstMetric(c.out, prometheus.CounterValue, float64(s.BytesOut), s.Syntax)
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, s.Seconds, s.Syntax)
	}
}

// Middleware records request durations by route template (never by raw
// path, which holds UIDs).
func (m *Metrics) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		m.inflight.Inc()
		err := next(c)
		if err != nil {
			// Let the error handler write the answer now, so the status
			// recorded is the one the client gets.
			c.Error(err)
			err = nil
		}
		m.inflight.Dec()
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		return err
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
