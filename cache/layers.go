package cache

import "github.com/stacklens/stacklens/storage"

// Layers are the cache layers a server shares between the components that
// keep derived files (source maps, debug files). A nil field leaves that
// layer out: without any, a component caches in memory only.
type Layers struct {
	// Disk keeps derived files memory-mapped, so that a restart does not
	// parse or download again. One Disk may serve every component.
	Disk *Disk
	// Metrics is where every layer of every cache reports.
	Metrics *Metrics
	// Shared is the object store derived files are read from and written
	// back to (derived/<format>/<version>/<sha256>), so that another
	// replica over the same bucket does not parse again.
	Shared storage.Bucket
}

// LayerOption sets one of a component's cache layers.
type LayerOption func(*Layers)

// WithDisk sets Layers.Disk.
func WithDisk(d *Disk) LayerOption { return func(l *Layers) { l.Disk = d } }

// WithMetrics sets Layers.Metrics.
func WithMetrics(m *Metrics) LayerOption { return func(l *Layers) { l.Metrics = m } }

// WithSharedBucket sets Layers.Shared.
func WithSharedBucket(b storage.Bucket) LayerOption { return func(l *Layers) { l.Shared = b } }

// NewLayers applies opts to empty Layers.
func NewLayers(opts ...LayerOption) Layers {
	var l Layers
	for _, o := range opts {
		o(&l)
	}
	return l
}

// Observer is the observer of cache=name, layer=layer; nil without
// metrics.
func (l Layers) Observer(name, layer string) Observer {
	if l.Metrics == nil {
		return nil
	}
	return l.Metrics.Observer(name, layer)
}

// MemoryOptions are the options of a memory layer reported as cache=name.
func (l Layers) MemoryOptions(name string) []MemoryOption {
	if l.Metrics == nil {
		return nil
	}
	return []MemoryOption{WithObserver(l.Metrics.Observer(name, "memory"))}
}

// DerivedOptions are the options of a Derived reported as cache=name.
func (l Layers) DerivedOptions(name string) []DerivedOption {
	if l.Metrics == nil {
		return nil
	}
	return []DerivedOption{WithDerivedMetrics(l.Metrics, name)}
}
