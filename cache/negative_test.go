package cache

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newTestNegative(ttl time.Duration, maxEntries int) (*Negative, *fakeClock) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	n := NewNegative(ttl, maxEntries)
	n.Now = clock.Now
	return n, clock
}

func TestNegativeTTL(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		want    bool
	}{
		{"fresh", 0, true},
		{"just before expiry", time.Minute - time.Nanosecond, true},
		{"at expiry", time.Minute, false},
		{"long after", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, clock := newTestNegative(time.Minute, 10)
			n.Add("p/debug/abc")
			clock.Advance(tt.advance)
			if got := n.Has("p/debug/abc"); got != tt.want {
				t.Errorf("Has = %v, want %v", got, tt.want)
			}
			if n.Has("p/debug/other") {
				t.Error("Has(never added) = true")
			}
		})
	}
}

func TestNegativeReAddRefreshesExpiry(t *testing.T) {
	n, clock := newTestNegative(time.Minute, 10)
	n.Add("k")
	clock.Advance(50 * time.Second)
	n.Add("k")
	clock.Advance(50 * time.Second)
	if !n.Has("k") {
		t.Error("re-added key expired on its first expiry")
	}
}

func TestNegativeInvalidation(t *testing.T) {
	keys := []string{"p1/debug/a", "p1/js/url/x", "p1x/debug/a", "p2/debug/a"}
	tests := []struct {
		name      string
		do        func(n *Negative)
		wantAfter map[string]bool
	}{
		{"key", func(n *Negative) { n.Invalidate("p1/debug/a") },
			map[string]bool{"p1/debug/a": false, "p1/js/url/x": true, "p1x/debug/a": true, "p2/debug/a": true}},
		{"project prefix", func(n *Negative) { n.InvalidatePrefix("p1/") },
			map[string]bool{"p1/debug/a": false, "p1/js/url/x": false, "p1x/debug/a": true, "p2/debug/a": true}},
		{"narrower prefix", func(n *Negative) { n.InvalidatePrefix("p1/js/") },
			map[string]bool{"p1/debug/a": true, "p1/js/url/x": false, "p1x/debug/a": true, "p2/debug/a": true}},
		{"missing key", func(n *Negative) { n.Invalidate("nope") },
			map[string]bool{"p1/debug/a": true, "p1/js/url/x": true, "p1x/debug/a": true, "p2/debug/a": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := newTestNegative(time.Minute, 10)
			for _, k := range keys {
				n.Add(k)
			}
			tt.do(n)
			for k, want := range tt.wantAfter {
				if got := n.Has(k); got != want {
					t.Errorf("Has(%q) = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestNegativeAddSinceSkipsAfterInvalidation(t *testing.T) {
	n, _ := newTestNegative(time.Minute, 10)
	epoch := n.Epoch()
	// The look-up misses; meanwhile an upload lands for the project.
	n.InvalidatePrefix("p/")
	if n.AddSince("p/debug/a", epoch) {
		t.Error("AddSince added a miss that an upload made stale")
	}
	if n.Has("p/debug/a") {
		t.Error("stale miss recorded")
	}
	if !n.AddSince("p/debug/a", n.Epoch()) || !n.Has("p/debug/a") {
		t.Error("AddSince with a current epoch did not record the miss")
	}
}

func TestNegativeBounded(t *testing.T) {
	n, clock := newTestNegative(time.Minute, 3)
	for i := range 10 {
		n.Add(fmt.Sprint("k", i))
		clock.Advance(time.Second)
	}
	if n.Len() != 3 {
		t.Fatalf("Len = %d, want 3", n.Len())
	}
	for i := range 10 {
		want := i >= 7
		if got := n.Has(fmt.Sprint("k", i)); got != want {
			t.Errorf("Has(k%d) = %v, want %v", i, got, want)
		}
	}
}

func TestNegativeStartsNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	var keep []*Negative
	for range 100 {
		n := NewNegative(time.Millisecond, 10)
		n.Add("k")
		keep = append(keep, n)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines went from %d to %d after creating %d negative caches", before, after, len(keep))
	}
}
