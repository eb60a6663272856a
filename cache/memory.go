// Package cache holds parsed, ready-to-query artifacts in memory, bounded by
// bytes rather than entries, with singleflight so that concurrent requests
// for one artifact load it once.
package cache

import (
	"context"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Stats are counters for one cache; read with Memory.Stats.
type Stats struct {
	Hits, Misses, Loads, LoadErrors, Evictions int64
	Bytes, Entries                             int64
}

type entry[V any] struct {
	value V
	size  int64
}

// Memory is a byte-bounded LRU of parsed values keyed by a string (normally
// the blob sha256). Safe for concurrent use.
type Memory[V any] struct {
	maxBytes int64

	mu    sync.Mutex
	lru   *lru.Cache[string, entry[V]]
	bytes int64
	stats Stats

	group singleflight.Group
}

// NewMemory returns a cache holding at most maxBytes of values (as reported
// by their loaders). A single value larger than maxBytes is returned to its
// caller but not kept.
func NewMemory[V any](maxBytes int64) *Memory[V] {
	m := &Memory[V]{maxBytes: maxBytes}
	// The entry count bound is irrelevant: bytes decide eviction.
	c, err := lru.NewWithEvict[string, entry[V]](1<<30, func(_ string, e entry[V]) {
		m.bytes -= e.size
		m.stats.Evictions++
	})
	if err != nil {
		panic(err) // only for size <= 0, which cannot happen here
	}
	m.lru = c
	return m
}

// Get returns a cached value without loading.
func (m *Memory[V]) Get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(key)
	if ok {
		m.stats.Hits++
	}
	return e.value, ok
}

// GetOrLoad returns the cached value for key or calls load once (however many
// goroutines ask concurrently) and caches what it returns. load reports the
// value's retained size in bytes. Errors are not cached.
func (m *Memory[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (V, int64, error)) (V, error) {
	if v, ok := m.Get(key); ok {
		return v, nil
	}
	ch := m.group.DoChan(key, func() (any, error) {
		if v, ok := m.Get(key); ok {
			return v, nil
		}
		m.mu.Lock()
		m.stats.Misses++
		m.stats.Loads++
		m.mu.Unlock()
		// The load outlives a cancelled caller: others may be waiting on it.
		v, size, err := load(context.WithoutCancel(ctx))
		if err != nil {
			m.mu.Lock()
			m.stats.LoadErrors++
			m.mu.Unlock()
			return v, err
		}
		m.add(key, v, size)
		return v, nil
	})
	select {
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			var zero V
			return zero, r.Err
		}
		return r.Val.(V), nil
	}
}

func (m *Memory[V]) add(key string, v V, size int64) {
	if size > m.maxBytes {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.lru.Peek(key); ok {
		m.bytes -= old.size
		m.lru.Remove(key)
		m.stats.Evictions--
	}
	m.lru.Add(key, entry[V]{value: v, size: size})
	m.bytes += size
	for m.bytes > m.maxBytes {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// Remove drops key from the cache.
func (m *Memory[V]) Remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key)
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
