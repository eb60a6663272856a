package cache

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Expiring remembers look-up results for a short TTL: records found in the
// object store (positive) or, through Negative, look-ups that found nothing.
// It is bounded by entries (the least recently added go first) and starts
// no goroutines: expired entries are dropped when looked at or when space
// is needed.
//
// Invalidation on upload is immediate on the replica that received it
// (Invalidate / InvalidatePrefix); other replicas see the upload once their
// entry expires, so the TTL is the bound on cross-replica staleness.
//
// Safe for concurrent use; set the exported fields before first use.
type Expiring[V any] struct {
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Observer, if set, receives hits, misses, evictions (for room, not
	// expiry) and sizes.
	Observer Observer

	ttl        time.Duration
	maxEntries int

	mu    sync.Mutex
	lru   *simplelru.LRU[string, expiringEntry[V]]
	epoch uint64 // bumped by every invalidation
}

type expiringEntry[V any] struct {
	value   V
	expires time.Time
}

// NewExpiring returns a cache whose entries live for ttl, holding at most
// maxEntries (at least 1).
func NewExpiring[V any](ttl time.Duration, maxEntries int) *Expiring[V] {
	maxEntries = max(maxEntries, 1)
	l, err := simplelru.NewLRU[string, expiringEntry[V]](maxEntries, nil)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &Expiring[V]{Now: time.Now, ttl: ttl, maxEntries: maxEntries, lru: l}
}

func (e *Expiring[V]) observer() Observer { return observerOrNop(e.Observer) }

// Epoch returns a token to pass to AddSince: take it before the look-up
// whose result will be recorded.
func (e *Expiring[V]) Epoch() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch
}

// Add records value for key.
func (e *Expiring[V]) Add(key string, value V) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addLocked(key, value)
}

// AddSince records value for key unless an invalidation happened since
// epoch (from Epoch, taken before the look-up). This closes the race where
// a look-up reads the store, an upload lands and invalidates, and the
// look-up then records its now-stale result for a whole TTL. It reports
// whether key was added. Invalidations are rare (uploads), so any of them
// counts.
func (e *Expiring[V]) AddSince(key string, value V, epoch uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.epoch != epoch {
		return false
	}
	e.addLocked(key, value)
	return true
}

func (e *Expiring[V]) addLocked(key string, value V) {
	now := e.Now()
	if e.lru.Len() >= e.maxEntries && !e.lru.Contains(key) {
		// Prefer dropping something already dead over evicting a live entry.
		if _, old, ok := e.lru.GetOldest(); ok && !now.Before(old.expires) {
			e.lru.RemoveOldest()
		} else if ok {
			e.lru.RemoveOldest()
			e.observer().Evicted(0)
		}
	}
	// Add moves an existing key to the front with its new expiry.
	e.lru.Add(key, expiringEntry[V]{value: value, expires: now.Add(e.ttl)})
	e.observer().Size(0, int64(e.lru.Len()))
}

// Get returns the value recorded for key, if any and not yet expired.
func (e *Expiring[V]) Get(key string) (V, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.lru.Peek(key)
	if ok && !e.Now().Before(ent.expires) {
		e.lru.Remove(key)
		e.observer().Size(0, int64(e.lru.Len()))
		ok = false
	}
	if !ok {
		e.observer().Miss()
		var zero V
		return zero, false
	}
	e.observer().Hit()
	return ent.value, true
}

// Contains reports whether key holds a live entry, without counting a hit
// or a miss (for planning, not for answering).
func (e *Expiring[V]) Contains(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.lru.Peek(key)
	return ok && e.Now().Before(ent.expires)
}

// Invalidate forgets key.
func (e *Expiring[V]) Invalidate(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.epoch++
	e.lru.Remove(key)
	e.observer().Size(0, int64(e.lru.Len()))
}

// InvalidatePrefix forgets every key starting with prefix: an upload for
// project P calls it with "P/" so that all of P's recorded look-ups are
// redone. It is linear in the number of entries, which is bounded.
func (e *Expiring[V]) InvalidatePrefix(prefix string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.epoch++
	for _, k := range e.lru.Keys() {
		if strings.HasPrefix(k, prefix) {
			e.lru.Remove(k)
		}
	}
	e.observer().Size(0, int64(e.lru.Len()))
}

// Len returns the number of entries held, expired ones included until they
// are looked at.
func (e *Expiring[V]) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lru.Len()
}
