package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor spins (yielding, never sleeping) until cond holds; the test's own
// deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestMemoryConcurrentGetOrLoadLoadsOnce(t *testing.T) {
	const callers = 50
	m := NewMemory[string](1 << 20)
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (string, int64, error) {
		loads.Add(1)
		<-release
		return "parsed", 6, nil
	}

	var wg sync.WaitGroup
	results := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = m.GetOrLoad(t.Context(), "sha", load)
		})
	}
	// Every caller must be waiting on the one load before it finishes, or
	// the test would not show that they share it.
	waitFor(t, "all callers to miss", func() bool { return m.Stats().Misses == callers })
	close(release)
	wg.Wait()

	if got := loads.Load(); got != 1 {
		t.Errorf("load called %d times, want 1", got)
	}
	for i := range callers {
		if errs[i] != nil || results[i] != "parsed" {
			t.Errorf("caller %d got (%q, %v), want (\"parsed\", nil)", i, results[i], errs[i])
		}
	}
	s := m.Stats()
	if s.Loads != 1 || s.Entries != 1 || s.Bytes != 6 {
		t.Errorf("stats = %+v, want Loads 1, Entries 1, Bytes 6", s)
	}
}

func TestMemoryCancelledWaiterDoesNotCancelLoad(t *testing.T) {
	m := NewMemory[int](1 << 20)
	started := make(chan struct{})
	release := make(chan struct{})
	loadCtxErr := make(chan error, 1)
	load := func(ctx context.Context) (int, int64, error) {
		close(started)
		<-release
		loadCtxErr <- ctx.Err()
		return 42, 8, nil
	}

	ctx1, cancel1 := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := m.GetOrLoad(ctx1, "k", load)
		first <- err
	}()
	<-started
	second := make(chan int, 1)
	go func() {
		v, err := m.GetOrLoad(t.Context(), "k", load)
		if err != nil {
			t.Errorf("second waiter: %v", err)
		}
		second <- v
	}()
	waitFor(t, "second waiter", func() bool { return m.Stats().Misses == 2 })

	cancel1()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-loadCtxErr; err != nil {
		t.Errorf("the shared load saw its context end: %v", err)
	}
	if v := <-second; v != 42 {
		t.Errorf("second waiter got %d, want 42", v)
	}
	if v, ok := m.Get("k"); !ok || v != 42 {
		t.Errorf("after the load Get = (%d, %v), want (42, true)", v, ok)
	}
}

func TestMemoryCancelledBeforeLoadStartsNothing(t *testing.T) {
	m := NewMemory[int](100)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := m.GetOrLoad(ctx, "k", func(context.Context) (int, int64, error) {
		t.Error("load called for a cancelled context")
		return 0, 0, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestMemoryErrorsAreNotCached(t *testing.T) {
	m := NewMemory[int](100)
	boom := errors.New("boom")
	calls := 0
	load := func(context.Context) (int, int64, error) {
		calls++
		if calls == 1 {
			return 0, 0, boom
		}
		return 7, 1, nil
	}
	if _, err := m.GetOrLoad(t.Context(), "k", load); !errors.Is(err, boom) {
		t.Fatalf("first call: %v, want boom", err)
	}
	if v, err := m.GetOrLoad(t.Context(), "k", load); err != nil || v != 7 {
		t.Fatalf("second call: (%d, %v), want (7, nil)", v, err)
	}
	s := m.Stats()
	if s.Loads != 2 || s.LoadErrors != 1 || calls != 2 {
		t.Errorf("Loads %d LoadErrors %d calls %d, want 2 1 2", s.Loads, s.LoadErrors, calls)
	}
}

func TestMemoryAccounting(t *testing.T) {
	type op struct {
		add    string // key to add, or
		remove string // key to remove
		size   int64
	}
	tests := []struct {
		name          string
		budget        int64
		ops           []op
		wantBytes     int64
		wantEntries   int64
		wantEvictions int64
		wantKeys      []string
	}{
		{"replace counts the new size only", 100, []op{{add: "a", size: 10}, {add: "a", size: 30}}, 30, 1, 0, []string{"a"}},
		{"remove is not an eviction", 100, []op{{add: "a", size: 10}, {add: "b", size: 20}, {remove: "a"}}, 20, 1, 0, []string{"b"}},
		{"removing a missing key changes nothing", 100, []op{{add: "a", size: 10}, {remove: "zz"}}, 10, 1, 0, []string{"a"}},
		{"oldest goes first", 100, []op{{add: "a", size: 40}, {add: "b", size: 40}, {add: "c", size: 40}}, 80, 2, 1, []string{"b", "c"}},
		{"several go to fit a big one", 100, []op{{add: "a", size: 30}, {add: "b", size: 30}, {add: "c", size: 30}, {add: "d", size: 90}}, 90, 1, 3, []string{"d"}},
		{"too big is not kept and drops the old value", 100, []op{{add: "a", size: 10}, {add: "a", size: 101}}, 0, 0, 0, nil},
		{"exactly the budget fits", 100, []op{{add: "a", size: 100}}, 100, 1, 0, []string{"a"}},
		{"negative size counts as zero", 100, []op{{add: "a", size: -5}}, 0, 1, 0, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory[string](tt.budget)
			for _, o := range tt.ops {
				if o.remove != "" {
					m.Remove(o.remove)
				} else {
					m.Add(o.add, o.add, o.size)
				}
			}
			s := m.Stats()
			if s.Bytes != tt.wantBytes || s.Entries != tt.wantEntries || s.Evictions != tt.wantEvictions {
				t.Errorf("Bytes %d Entries %d Evictions %d, want %d %d %d", s.Bytes, s.Entries, s.Evictions, tt.wantBytes, tt.wantEntries, tt.wantEvictions)
			}
			for _, k := range tt.wantKeys {
				if _, ok := m.Get(k); !ok {
					t.Errorf("key %q missing", k)
				}
			}
		})
	}
}

func TestMemoryRemoveDuringLoadKeepsResultOut(t *testing.T) {
	m := NewMemory[int](100)
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan int)
	go func() {
		v, err := m.GetOrLoad(t.Context(), "k", func(context.Context) (int, int64, error) {
			close(started)
			<-release
			return 1, 1, nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	<-started
	m.Remove("k")
	// A caller after Remove must not join the stale load.
	fresh, err := m.GetOrLoad(t.Context(), "k", func(context.Context) (int, int64, error) { return 2, 1, nil })
	if err != nil || fresh != 2 {
		t.Fatalf("load after Remove = (%d, %v), want (2, nil)", fresh, err)
	}
	close(release)
	if v := <-done; v != 1 {
		t.Errorf("waiter of the removed load got %d, want 1", v)
	}
	if v, _ := m.Get("k"); v != 2 {
		t.Errorf("cached value = %d, want 2 (the stale load must not overwrite it)", v)
	}
}

// TestMemoryEvictionBoundsHeap loads many large values through a small
// budget: Bytes never exceeds it, and the evicted values are really released
// (the live heap after a GC stays near the budget, not near the total loaded).
func TestMemoryEvictionBoundsHeap(t *testing.T) {
	const (
		budget = 16 << 20
		total  = 256 << 20
		slack  = 24 << 20 // test binary, race detector shadow bookkeeping, GC lag
	)
	m := NewMemory[[]byte](budget)
	loaded := int64(0)
	for i := 0; loaded < total; i++ {
		size := int64(1<<20 + (i%5)*(512<<10)) // 1 MiB .. 3 MiB
		v, err := m.GetOrLoad(t.Context(), fmt.Sprint("blob", i), func(context.Context) ([]byte, int64, error) {
			b := make([]byte, size)
			b[0], b[len(b)-1] = 1, 1 // touch it: a real parse fills its memory
			return b, size, nil
		})
		if err != nil || int64(len(v)) != size {
			t.Fatalf("load %d: len %d err %v", i, len(v), err)
		}
		loaded += size
		if s := m.Stats(); s.Bytes > budget {
			t.Fatalf("after load %d Bytes = %d > budget %d", i, s.Bytes, budget)
		}
	}
	s := m.Stats()
	if s.Evictions == 0 || s.Loads < 100 {
		t.Fatalf("stats %+v: expected many loads and evictions", s)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(m) // the cache, and what it holds, must count
	t.Logf("loaded %d MiB through a %d MiB budget: %d evictions, heap in use after GC %d MiB", loaded>>20, budget>>20, s.Evictions, ms.HeapAlloc>>20)
	if ms.HeapAlloc > budget+slack {
		t.Errorf("heap in use %d MiB > budget %d MiB + %d MiB: evicted values are retained", ms.HeapAlloc>>20, budget>>20, slack>>20)
	}
}

type recordingObserver struct {
	mu                                 sync.Mutex
	hits, misses, loads, loadErrs      int
	evictions, corrupt                 int
	evictedBytes, lastBytes, lastCount int64
	loadTime                           time.Duration
}

func (o *recordingObserver) Hit()  { o.mu.Lock(); o.hits++; o.mu.Unlock() }
func (o *recordingObserver) Miss() { o.mu.Lock(); o.misses++; o.mu.Unlock() }
func (o *recordingObserver) Loaded(d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.loads++
	o.loadTime += d
	if err != nil {
		o.loadErrs++
	}
}
func (o *recordingObserver) Evicted(b int64) {
	o.mu.Lock()
	o.evictions++
	o.evictedBytes += b
	o.mu.Unlock()
}
func (o *recordingObserver) Corrupt() { o.mu.Lock(); o.corrupt++; o.mu.Unlock() }
func (o *recordingObserver) Size(b, n int64) {
	o.mu.Lock()
	o.lastBytes, o.lastCount = b, n
	o.mu.Unlock()
}

func TestMemoryObserverSeesEvents(t *testing.T) {
	obs := &recordingObserver{}
	m := NewMemory[int](10, WithObserver(obs))
	load := func(size int64) func(context.Context) (int, int64, error) {
		return func(context.Context) (int, int64, error) { return 1, size, nil }
	}
	ctx := t.Context()
	_, _ = m.GetOrLoad(ctx, "a", load(6)) // miss, load
	_, _ = m.GetOrLoad(ctx, "a", load(6)) // hit
	_, _ = m.GetOrLoad(ctx, "b", load(6)) // miss, load, evicts a
	_, _ = m.GetOrLoad(ctx, "c", func(context.Context) (int, int64, error) { return 0, 0, errors.New("x") })
	s := m.Stats()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	got := [...]int64{int64(obs.hits), int64(obs.misses), int64(obs.loads), int64(obs.loadErrs), int64(obs.evictions), obs.evictedBytes, obs.lastBytes, obs.lastCount}
	want := [...]int64{s.Hits, s.Misses, s.Loads, s.LoadErrors, s.Evictions, 6, s.Bytes, s.Entries}
	if got != want {
		t.Errorf("observer saw %v, stats say %v", got, want)
	}
	if want != [...]int64{1, 3, 3, 1, 1, 6, 6, 1} {
		t.Errorf("stats %v, want [1 3 3 1 1 6 6 1]", want)
	}
}
