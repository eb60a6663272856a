package debugstore

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
)

// candidateCache remembers, for a short TTL, the records Find found for a
// debug_id/code_id: without it every Find lists and reads records in the
// object store, which over S3 costs more than the lookups themselves. An
// upload or delete on this replica forgets the project's entries at once;
// other replicas see new files within the TTL.
type candidateCache struct {
	ttl      time.Duration
	now      func() time.Time
	observer cache.Observer

	mu    sync.Mutex
	lru   *simplelru.LRU[string, cachedCandidates]
	epoch uint64 // bumped by every invalidation
}

type cachedCandidates struct {
	metas   []debugfiles.FileMeta
	expires time.Time
}

func newCandidateCache(ttl time.Duration, entries int, observer cache.Observer) *candidateCache {
	l, err := simplelru.NewLRU[string, cachedCandidates](max(entries, 1), nil)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	if observer == nil {
		observer = nopObserver{}
	}
	return &candidateCache{ttl: ttl, now: time.Now, observer: observer, lru: l}
}

// get returns a copy of the cached candidates (Find reorders them).
func (c *candidateCache) get(key string) ([]debugfiles.FileMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if ok && !c.now().Before(e.expires) {
		c.lru.Remove(key)
		ok = false
	}
	if !ok {
		c.observer.Miss()
		return nil, false
	}
	c.observer.Hit()
	return append([]debugfiles.FileMeta(nil), e.metas...), true
}

func (c *candidateCache) currentEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// addSince caches metas unless an invalidation happened since epoch (taken
// before the records were read), which would make them stale.
func (c *candidateCache) addSince(key string, metas []debugfiles.FileMeta, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	c.lru.Add(key, cachedCandidates{metas: append([]debugfiles.FileMeta(nil), metas...), expires: c.now().Add(c.ttl)})
	c.observer.Size(0, int64(c.lru.Len()))
}

func (c *candidateCache) invalidatePrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, k := range c.lru.Keys() {
		if strings.HasPrefix(k, prefix) {
			c.lru.Remove(k)
		}
	}
	c.observer.Size(0, int64(c.lru.Len()))
}

type nopObserver struct{}

func (nopObserver) Hit()                        {}
func (nopObserver) Miss()                       {}
func (nopObserver) Loaded(time.Duration, error) {}
func (nopObserver) Evicted(int64)               {}
func (nopObserver) Corrupt()                    {}
func (nopObserver) Size(int64, int64)           {}
