package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stacklens/stacklens/cache"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stacklens_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stacklens_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stacklens_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *httpMetrics) observe(route string, status int, elapsed time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	m.duration.WithLabelValues(route, code).Observe(elapsed.Seconds())
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// RegisterCacheStats exports a cache's counters on /metrics with the label
// cache=name. stats is called at every scrape.
func (s *Server) RegisterCacheStats(name string, stats func() cache.Stats) error {
	labels := prometheus.Labels{"cache": name}
	counter := func(metric, help string, v func(cache.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: metric, Help: help, ConstLabels: labels},
			func() float64 { return float64(v(stats())) })
	}
	gauge := func(metric, help string, v func(cache.Stats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metric, Help: help, ConstLabels: labels},
			func() float64 { return float64(v(stats())) })
	}
	for _, c := range []prometheus.Collector{
		counter("stacklens_cache_hits_total", "Cache lookups answered from memory.", func(s cache.Stats) int64 { return s.Hits }),
		counter("stacklens_cache_misses_total", "Cache lookups that had to load.", func(s cache.Stats) int64 { return s.Misses }),
		counter("stacklens_cache_loads_total", "Loads run (concurrent misses of one key share one load).", func(s cache.Stats) int64 { return s.Loads }),
		counter("stacklens_cache_load_errors_total", "Loads that failed.", func(s cache.Stats) int64 { return s.LoadErrors }),
		counter("stacklens_cache_evictions_total", "Entries evicted to stay within the byte budget.", func(s cache.Stats) int64 { return s.Evictions }),
		gauge("stacklens_cache_bytes", "Bytes held.", func(s cache.Stats) int64 { return s.Bytes }),
		gauge("stacklens_cache_entries", "Entries held.", func(s cache.Stats) int64 { return s.Entries }),
	} {
		if err := s.registry.Register(c); err != nil {
			return fmt.Errorf("registering cache %q metrics: %w", name, err)
		}
	}
	return nil
}

// RegisterMemoryLayerStats exports the counters of an in-memory cache that
// reports no events of its own (it takes no cache.Observer) as layer
// "memory" of the series cache.Metrics exports, so that both can live on
// one registry: same names, same label names (cache, layer), same help.
// stats is called at every scrape. A component whose caches take
// observers of cache.Metrics needs none of this.
func (s *Server) RegisterMemoryLayerStats(name string, stats func() cache.Stats) error {
	return s.registry.Register(&memoryLayerCollector{name: name, stats: stats})
}

// memoryLayerCollector is unchecked (it describes nothing): the
// registry's descriptor checks would see its series as duplicates of
// cache.Metrics' vectors, which they extend with other label values. The
// help texts must be cache.Metrics' (a gather fails on two helps for one
// name); TestServeCacheMetricsAndRestart scrapes both together.
type memoryLayerCollector struct {
	name  string
	stats func() cache.Stats
}

func (c *memoryLayerCollector) Describe(chan<- *prometheus.Desc) {}

func (c *memoryLayerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	labels := []string{"cache", "layer"}
	for _, m := range []struct {
		name, help string
		typ        prometheus.ValueType
		v          int64
	}{
		{"stacklens_cache_hits_total", "Look-ups answered by the layer.", prometheus.CounterValue, st.Hits},
		{"stacklens_cache_misses_total", "Look-ups the layer could not answer.", prometheus.CounterValue, st.Misses},
		{"stacklens_cache_load_errors_total", "Loads (parse, mapping, download, build) that failed.", prometheus.CounterValue, st.LoadErrors},
		{"stacklens_cache_evictions_total", "Entries dropped to stay within the layer's budget.", prometheus.CounterValue, st.Evictions},
		{"stacklens_cache_bytes", "Bytes held by the layer.", prometheus.GaugeValue, st.Bytes},
		{"stacklens_cache_entries", "Entries held by the layer.", prometheus.GaugeValue, st.Entries},
	} {
		desc := prometheus.NewDesc(m.name, m.help, labels, nil)
		ch <- prometheus.MustNewConstMetric(desc, m.typ, float64(m.v), c.name, "memory")
	}
}
