package cache

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports cache events to Prometheus, labelled by cache (which
// artifact kind, e.g. "sourcemaps") and layer ("memory", "negative", "disk",
// "store", "build"). Create one per registry and hand out one Observer per
// (cache, layer):
//
//	m, _ := cache.NewMetrics(reg)
//	mem := cache.NewMemory[V](budget, cache.WithObserver(m.Observer("sourcemaps", "memory")))
//	disk, _ := cache.OpenDisk(dir, budget, cache.WithDiskObserver(m.Observer("derived", "disk")))
//	d := cache.NewDerived(codec, mem, disk, bucket, log, cache.WithDerivedMetrics(m, "sourcemaps"))
type Metrics struct {
	hits, misses, loadErrors, evictions, evictedBytes, corrupt *prometheus.CounterVec
	loadSeconds                                                *prometheus.HistogramVec
	bytes, entries                                             *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them on reg (never on
// the global registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"cache", "layer"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "stacklens", Subsystem: "cache", Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "stacklens", Subsystem: "cache", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		hits:         counter("hits_total", "Look-ups answered by the layer."),
		misses:       counter("misses_total", "Look-ups the layer could not answer."),
		loadErrors:   counter("load_errors_total", "Loads (parse, mapping, download, build) that failed."),
		evictions:    counter("evictions_total", "Entries dropped to stay within the layer's budget."),
		evictedBytes: counter("evicted_bytes_total", "Bytes of the entries dropped to stay within budget."),
		corrupt:      counter("corrupt_total", "Derived files that failed verification and were deleted."),
		loadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "stacklens", Subsystem: "cache", Name: "load_duration_seconds",
			Help:    "Time to load an entry into the layer (its count is the number of loads).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
		}, labels),
		bytes:   gauge("bytes", "Bytes held by the layer."),
		entries: gauge("entries", "Entries held by the layer."),
	}
	for _, c := range []prometheus.Collector{m.hits, m.misses, m.loadErrors, m.evictions, m.evictedBytes, m.corrupt, m.loadSeconds, m.bytes, m.entries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cache: registering metrics: %w", err)
		}
	}
	return m, nil
}

// Observer returns the Observer feeding this (cache, layer)'s series. Give
// each cache instance its own (cache, layer): sizes are gauges, and two
// instances sharing one would overwrite each other.
func (m *Metrics) Observer(cache, layer string) Observer {
	return &promObserver{
		hits:         m.hits.WithLabelValues(cache, layer),
		misses:       m.misses.WithLabelValues(cache, layer),
		loadErrors:   m.loadErrors.WithLabelValues(cache, layer),
		evictions:    m.evictions.WithLabelValues(cache, layer),
		evictedBytes: m.evictedBytes.WithLabelValues(cache, layer),
		corrupt:      m.corrupt.WithLabelValues(cache, layer),
		loadSeconds:  m.loadSeconds.WithLabelValues(cache, layer),
		bytes:        m.bytes.WithLabelValues(cache, layer),
		entries:      m.entries.WithLabelValues(cache, layer),
	}
}

type promObserver struct {
	hits, misses, loadErrors, evictions, evictedBytes, corrupt prometheus.Counter
	loadSeconds                                                prometheus.Observer
	bytes, entries                                             prometheus.Gauge
}

func (o *promObserver) Hit()  { o.hits.Inc() }
func (o *promObserver) Miss() { o.misses.Inc() }
func (o *promObserver) Loaded(d time.Duration, err error) {
	o.loadSeconds.Observe(d.Seconds())
	if err != nil {
		o.loadErrors.Inc()
	}
}
func (o *promObserver) Evicted(b int64) {
	o.evictions.Inc()
	o.evictedBytes.Add(float64(b))
}
func (o *promObserver) Corrupt() { o.corrupt.Inc() }
func (o *promObserver) Size(b, n int64) {
	o.bytes.Set(float64(b))
	o.entries.Set(float64(n))
}
