package cache

import "time"

// Negative remembers, for a short TTL, look-ups that found nothing ("no
// artifact for this debug ID / URL"), so a flood of events for a missing
// artifact does not hit the object store each time. It is an Expiring cache
// of keys only; see Expiring for bounds and invalidation.
//
// Safe for concurrent use; set the exported fields (Now, Observer) before
// first use.
type Negative struct {
	*Expiring[struct{}]
}

// NewNegative returns a negative cache whose entries live for ttl, holding
// at most maxEntries (at least 1).
func NewNegative(ttl time.Duration, maxEntries int) *Negative {
	return &Negative{NewExpiring[struct{}](ttl, maxEntries)}
}

// Add records that key was looked up and not found.
func (n *Negative) Add(key string) { n.Expiring.Add(key, struct{}{}) }

// AddSince records key as not found unless an invalidation happened since
// epoch (see Expiring.AddSince).
func (n *Negative) AddSince(key string, epoch uint64) bool {
	return n.Expiring.AddSince(key, struct{}{}, epoch)
}

// Has reports whether key is recorded as not found and not yet expired.
func (n *Negative) Has(key string) bool {
	_, ok := n.Expiring.Get(key)
	return ok
}
