package cache

import (
	"testing"
	"time"
)

func TestExpiringValues(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewExpiring[[]string](10*time.Second, 2)
	e.Now = func() time.Time { return now }

	e.Add("p/a", []string{"x"})
	if !e.Contains("p/a") || e.Contains("p/none") {
		t.Error("Contains disagrees with what was added")
	}
	if v, ok := e.Get("p/a"); !ok || len(v) != 1 || v[0] != "x" {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	epoch := e.Epoch()
	e.InvalidatePrefix("q/")
	if e.AddSince("p/b", []string{"stale"}, epoch) {
		t.Error("AddSince after an invalidation must not record the stale value")
	}
	if _, ok := e.Get("p/a"); !ok {
		t.Error("an invalidation of another prefix dropped p/a")
	}
	if !e.AddSince("p/b", []string{"y"}, e.Epoch()) {
		t.Error("AddSince with a current epoch must record")
	}
	e.Add("p/c", nil) // over the bound: the oldest goes
	if _, ok := e.Get("p/a"); ok || e.Len() != 2 {
		t.Errorf("bound of 2 entries not kept: len %d", e.Len())
	}
	now = now.Add(10 * time.Second)
	if e.Contains("p/b") {
		t.Error("Contains must not report an expired entry")
	}
	if _, ok := e.Get("p/b"); ok {
		t.Error("an entry must expire after its TTL")
	}
}
