package cache

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Negative remembers, for a short TTL, look-ups that found nothing ("no
// artifact for this debug ID / URL"), so a flood of events for a missing
// artifact does not hit the object store each time. It is bounded by
// entries (the least recently added go first) and starts no goroutines:
// expired entries are dropped when looked at or when space is needed.
//
// Invalidation on upload is immediate on the replica that received it
// (Invalidate / InvalidatePrefix); other replicas see the upload once their
// entry expires, so the TTL is the bound on cross-replica staleness.
//
// Safe for concurrent use; set the exported fields before first use.
type Negative struct {
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Observer, if set, receives hits (Has true), misses (Has false),
	// evictions (for room, not expiry) and sizes.
	Observer Observer

	ttl        time.Duration
	maxEntries int

	mu    sync.Mutex
	lru   *simplelru.LRU[string, time.Time] // key → expiry
	epoch uint64                            // bumped by every invalidation
}

// NewNegative returns a negative cache whose entries live for ttl, holding
// at most maxEntries (at least 1).
func NewNegative(ttl time.Duration, maxEntries int) *Negative {
	maxEntries = max(maxEntries, 1)
	l, err := simplelru.NewLRU[string, time.Time](maxEntries, nil)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &Negative{Now: time.Now, ttl: ttl, maxEntries: maxEntries, lru: l}
}

func (n *Negative) observer() Observer { return observerOrNop(n.Observer) }

// Add records that key was looked up and not found.
func (n *Negative) Add(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addLocked(key)
}

// Epoch returns a token to pass to AddSince: take it before the look-up
// whose failure will be recorded.
func (n *Negative) Epoch() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.epoch
}

// AddSince records key as not found unless an invalidation happened since
// epoch (from Epoch, taken before the look-up). This closes the race where
// a look-up misses, an upload lands and invalidates, and the look-up then
// records its now-stale miss for a whole TTL. It reports whether key was
// added. Invalidations are rare (uploads), so any of them counts.
func (n *Negative) AddSince(key string, epoch uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.epoch != epoch {
		return false
	}
	n.addLocked(key)
	return true
}

func (n *Negative) addLocked(key string) {
	now := n.Now()
	if n.lru.Len() >= n.maxEntries && !n.lru.Contains(key) {
		// Prefer dropping something already dead over evicting a live entry.
		if _, exp, ok := n.lru.GetOldest(); ok && !now.Before(exp) {
			n.lru.RemoveOldest()
		} else if ok {
			n.lru.RemoveOldest()
			n.observer().Evicted(0)
		}
	}
	// Add moves an existing key to the front with its new expiry.
	n.lru.Add(key, now.Add(n.ttl))
	n.observer().Size(0, int64(n.lru.Len()))
}

// Has reports whether key is recorded as not found and not yet expired.
func (n *Negative) Has(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.lru.Peek(key)
	if ok && !n.Now().Before(exp) {
		n.lru.Remove(key)
		n.observer().Size(0, int64(n.lru.Len()))
		ok = false
	}
	if ok {
		n.observer().Hit()
	} else {
		n.observer().Miss()
	}
	return ok
}

// Invalidate forgets key.
func (n *Negative) Invalidate(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.epoch++
	n.lru.Remove(key)
	n.observer().Size(0, int64(n.lru.Len()))
}

// InvalidatePrefix forgets every key starting with prefix: an upload for
// project P calls it with "P/" so that all of P's recorded misses are
// retried. It is linear in the number of entries, which is bounded.
func (n *Negative) InvalidatePrefix(prefix string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.epoch++
	for _, k := range n.lru.Keys() {
		if strings.HasPrefix(k, prefix) {
			n.lru.Remove(k)
		}
	}
	n.observer().Size(0, int64(n.lru.Len()))
}

// Len returns the number of entries held, expired ones included until they
// are looked at.
func (n *Negative) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lru.Len()
}
