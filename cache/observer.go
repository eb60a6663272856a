package cache

import "time"

// Observer receives one cache layer's events, typically to export them as
// metrics (see Metrics.Observer). Its methods are called synchronously,
// sometimes with the cache's lock held: they must be cheap, must not block and
// must not call back into the cache.
type Observer interface {
	// Hit and Miss count look-ups served, or not, by the layer.
	Hit()
	Miss()
	// Loaded reports one load (a loader call, a file mapping, a download, a
	// build) and how long it took; err is its failure, if any.
	Loaded(d time.Duration, err error)
	// Evicted reports an entry of the given size dropped to stay in budget.
	Evicted(bytes int64)
	// Corrupt reports a stored entry that failed verification and was dropped.
	Corrupt()
	// Size reports the layer's current footprint after a change.
	Size(bytes, entries int64)
}

// nopObserver lets the caches call their observer unconditionally.
type nopObserver struct{}

func (nopObserver) Hit()                        {}
func (nopObserver) Miss()                       {}
func (nopObserver) Loaded(time.Duration, error) {}
func (nopObserver) Evicted(int64)               {}
func (nopObserver) Corrupt()                    {}
func (nopObserver) Size(int64, int64)           {}

func observerOrNop(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}
