package mapping

import (
	"fmt"
	"runtime"
	"testing"
)

// TestSizeBytesApproximatesHeap checks SizeBytes against what the Go heap
// actually grows by when a real map is parsed and kept, since the cache
// evicts by it.
func TestSizeBytesApproximatesHeap(t *testing.T) {
	for _, f := range realFixtures(t) {
		if len(f.data) < 100_000 {
			continue // small maps drown in heap noise
		}
		t.Run(f.name, func(t *testing.T) {
			if _, err := Parse(f.data); err != nil { // warm-up: settle lazily allocated runtime state
				t.Fatal(err)
			}
			const copies = 4
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var kept [copies]*Map
			for i := range kept {
				m, err := Parse(f.data)
				if err != nil {
					t.Fatal(err)
				}
				kept[i] = m
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			grown := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / copies
			size := kept[0].SizeBytes()
			runtime.KeepAlive(kept)
			if float64(size) < 0.75*float64(grown) || float64(size) > 1.25*float64(grown) {
				t.Errorf("SizeBytes = %d, heap grew by %d", size, grown)
			}
			t.Logf("input %d bytes, SizeBytes %d, heap +%d", len(f.data), size, grown)
		})
	}
}

// TestConcurrentLookups: a cached Map is shared by request goroutines.
func TestConcurrentLookups(t *testing.T) {
	f := realFixtures(t)[0]
	m, err := Parse(f.data)
	if err != nil {
		t.Fatal(err)
	}
	pos := probePositions(m, 500, 1)
	want := make([]Token, len(pos))
	for i, p := range pos {
		want[i], _ = m.Lookup(p[0], p[1])
	}
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i, p := range pos {
				if got, _ := m.Lookup(p[0], p[1]); got != want[i] {
					done <- fmt.Errorf("Lookup(%d,%d) = %+v, want %+v", p[0], p[1], got, want[i])
					return
				}
				if at, ok := m.TokenAt(p[0], p[1]); ok {
					m.Source(at.Source)
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
