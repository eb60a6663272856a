package cache

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// gatherValues flattens a registry into "name{labels}" → value, with
// histograms as their _count.
func gatherValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			suffix := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[f.GetName()+suffix] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[f.GetName()+suffix] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"+suffix] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsObserverFeedsSeries(t *testing.T) {
	reg := newTestRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNegative(60e9, 10)
	n.Observer = m.Observer("debugfiles", "negative")
	n.Add("p/debug/a")
	n.Has("p/debug/a")
	n.Has("p/debug/b")
	mem := NewMemory[int](10, WithObserver(m.Observer("debugfiles", "memory")))
	mem.Add("a", 1, 6)
	mem.Add("b", 1, 6)
	got := gatherValues(t, reg)
	want := map[string]float64{
		`stacklens_cache_hits_total{cache="debugfiles",layer="negative"}`:        1,
		`stacklens_cache_misses_total{cache="debugfiles",layer="negative"}`:      1,
		`stacklens_cache_entries{cache="debugfiles",layer="negative"}`:           1,
		`stacklens_cache_evictions_total{cache="debugfiles",layer="memory"}`:     1,
		`stacklens_cache_evicted_bytes_total{cache="debugfiles",layer="memory"}`: 6,
		`stacklens_cache_bytes{cache="debugfiles",layer="memory"}`:               6,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
