// Package cache makes the second request for an artifact cheap. It has
// three layers and the glue between them:
//
//   - Memory: parsed, ready-to-query values bounded by bytes, with
//     singleflight so concurrent requests for one artifact load it once;
//   - Negative: short-lived "there is no such artifact" answers, dropped when
//     a matching upload lands;
//   - Disk: a bounded directory of derived files (compact, versioned,
//     checksummed indexes), memory-mapped for reading;
//   - Derived: memory → disk → object store (derived/<format>/<version>/<sha256>)
//     → build, writing each result back to the layers below it, so neither a
//     restart nor another replica parses an artifact again.
//
// Metrics exports every layer's counters to Prometheus.
package cache

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Stats are counters for one in-memory cache; read with Memory.Stats.
type Stats struct {
	// Hits and Misses count look-ups (Get and GetOrLoad). A caller that
	// joins a load already in flight counts as a miss but not as a load.
	Hits, Misses int64
	// Loads counts loader calls, LoadErrors those that failed.
	Loads, LoadErrors int64
	// Evictions counts entries dropped to stay within the byte budget
	// (not explicit removals or replacements).
	Evictions int64
	// Bytes is the sum of the sizes the loaders reported for the entries
	// held now; Entries is their number.
	Bytes, Entries int64
	// LoadDuration is the total time spent in loaders.
	LoadDuration time.Duration
}

// MemoryOption configures a Memory.
type MemoryOption func(*memoryConfig)

type memoryConfig struct {
	observer Observer
}

// WithObserver reports the cache's events (hits, misses, loads, evictions,
// size) to o, e.g. Metrics.Observer(name, "memory").
func WithObserver(o Observer) MemoryOption {
	return func(c *memoryConfig) { c.observer = o }
}

type entry[V any] struct {
	value V
	size  int64
}

// flight is one load in progress; every caller asking for its key meanwhile
// waits on done instead of loading again.
type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
	// removed is set (under Memory.mu) when Remove ran during the load: the
	// result then goes to the waiters but not into the cache, so a value
	// removed because it went stale is not put back by a slow loader.
	removed bool
}

// Memory is a byte-bounded LRU of parsed values keyed by a string (normally
// the blob sha256). Safe for concurrent use.
type Memory[V any] struct {
	maxBytes int64
	observer Observer

	mu      sync.Mutex
	lru     *simplelru.LRU[string, entry[V]]
	bytes   int64
	stats   Stats
	flights map[string]*flight[V]
}

// NewMemory returns a cache holding at most maxBytes of values (as reported
// by their loaders). A single value larger than maxBytes is returned to its
// caller but not kept.
func NewMemory[V any](maxBytes int64, opts ...MemoryOption) *Memory[V] {
	var cfg memoryConfig
	for _, o := range opts {
		o(&cfg)
	}
	// Bytes decide eviction, so the entry bound only has to be unreachable;
	// simplelru allocates nothing up front for it. Accounting is done here,
	// without an eviction callback, so that replacing or removing an entry
	// is never mistaken for an eviction.
	l, err := simplelru.NewLRU[string, entry[V]](1<<31-1, nil)
	if err != nil {
		panic(err) // only for a size <= 0, which is not the case
	}
	return &Memory[V]{
		maxBytes: maxBytes,
		observer: observerOrNop(cfg.observer),
		lru:      l,
		flights:  make(map[string]*flight[V]),
	}
}

// MaxBytes returns the byte budget.
func (m *Memory[V]) MaxBytes() int64 { return m.maxBytes }

// Get returns a cached value without loading.
func (m *Memory[V]) Get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(key)
	if ok {
		m.stats.Hits++
		m.observer.Hit()
	} else {
		m.stats.Misses++
		m.observer.Miss()
	}
	return e.value, ok
}

// GetOrLoad returns the cached value for key or calls load once (however many
// goroutines ask concurrently) and caches what it returns. load reports the
// value's retained size in bytes. Errors are not cached.
//
// The load runs with a context that is never cancelled (it keeps ctx's
// values): other callers may be waiting for it. A caller whose ctx ends stops
// waiting and gets ctx.Err(); the load goes on and its result is cached.
func (m *Memory[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (V, int64, error)) (V, error) {
	var zero V
	m.mu.Lock()
	if e, ok := m.lru.Get(key); ok {
		m.stats.Hits++
		m.observer.Hit()
		m.mu.Unlock()
		return e.value, nil
	}
	m.stats.Misses++
	m.observer.Miss()
	f, inFlight := m.flights[key]
	if !inFlight {
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return zero, err
		}
		f = &flight[V]{done: make(chan struct{})}
		m.flights[key] = f
		m.stats.Loads++
		// In its own goroutine so that every caller, the first included,
		// can stop waiting when its context ends.
		go m.run(context.WithoutCancel(ctx), key, f, load)
	}
	m.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return zero, f.err
		}
		return f.val, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (m *Memory[V]) run(ctx context.Context, key string, f *flight[V], load func(ctx context.Context) (V, int64, error)) {
	start := time.Now()
	v, size, err := load(ctx)
	took := time.Since(start)

	m.mu.Lock()
	m.stats.LoadDuration += took
	if err != nil {
		m.stats.LoadErrors++
	} else if !f.removed {
		m.addLocked(key, v, size)
	}
	if m.flights[key] == f {
		delete(m.flights, key)
	}
	f.val, f.err = v, err
	m.mu.Unlock()

	m.observer.Loaded(took, err)
	close(f.done)
}

// Add stores v under key, replacing any previous value, as if a loader had
// returned it.
func (m *Memory[V]) Add(key string, v V, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addLocked(key, v, size)
}

func (m *Memory[V]) addLocked(key string, v V, size int64) {
	if size < 0 {
		size = 0
	}
	if old, ok := m.lru.Peek(key); ok {
		m.bytes -= old.size
		m.lru.Remove(key)
	}
	if size <= m.maxBytes {
		m.lru.Add(key, entry[V]{value: v, size: size})
		m.bytes += size
		for m.bytes > m.maxBytes {
			_, old, ok := m.lru.RemoveOldest()
			if !ok {
				break
			}
			m.bytes -= old.size
			m.stats.Evictions++
			m.observer.Evicted(old.size)
		}
	}
	m.observer.Size(m.bytes, int64(m.lru.Len()))
}

// Remove drops key from the cache. A load for key in progress still answers
// the callers waiting for it, but its result is not cached, and later
// callers start a fresh load.
func (m *Memory[V]) Remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.lru.Peek(key); ok {
		m.bytes -= old.size
		m.lru.Remove(key)
	}
	if f, ok := m.flights[key]; ok {
		f.removed = true
		delete(m.flights, key)
	}
	m.observer.Size(m.bytes, int64(m.lru.Len()))
}

// Stats returns a snapshot of the counters.
func (m *Memory[V]) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Bytes = m.bytes
	s.Entries = int64(m.lru.Len())
	return s
}
