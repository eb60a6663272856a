package debugstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage/fsstore"
)

// bigDir holds the large Go binaries built once per test binary.
var bigDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "debugstore-big-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bigDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	bigMu    sync.Mutex
	bigBuilt = map[string]string{}
)

// goBinary builds a program of the Go distribution (e.g. "cmd/vet") with
// uncompressed DWARF, once per test binary: real, large debug files with
// deep inlining, needing no download (GOCACHE makes rebuilds a link).
func goBinary(t testing.TB, pkg string) string {
	t.Helper()
	bigMu.Lock()
	defer bigMu.Unlock()
	if p, ok := bigBuilt[pkg]; ok {
		return p
	}
	out := filepath.Join(bigDir, strings.ReplaceAll(pkg, "/", "_"))
	cmd := exec.Command(testenv.Tool(t, "go"), "build", "-ldflags=-compressdwarf=false", "-o", out, pkg)
	cmd.Dir = bigDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	bigBuilt[pkg] = out
	return out
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC() // the cleanups unmapping symcaches run after the first
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryStaysInBudget: a store with a 20 MiB memory budget and a
// 20 MiB disk budget serving lookups across four different large debug
// files (14-27 MB each), round after round, keeps its memory layer within
// budget and the Go heap within budget plus a bounded overhead after
// every request, and evicts symcaches from disk to stay within the disk
// budget.
func TestMemoryStaysInBudget(t *testing.T) {
	const memBudget, diskBudget, overhead = 20 << 20, 20 << 20, 16 << 20
	pkgs := []string{"cmd/pprof", "cmd/trace", "cmd/vet", "cmd/link"}
	// On the filesystem: an in-memory bucket would put the blobs and the
	// uploaded symcaches in the heap being measured.
	bucket, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, bucket, t.TempDir(), diskBudget, debugstore.Config{CacheBytes: memBudget})
	ctx := context.Background()
	type file struct {
		ref   debugfiles.ObjectRef
		addrs []uint64
	}
	var files []file
	for _, pkg := range pkgs {
		bin := goBinary(t, pkg)
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		m := upload(t, r.Store, "p", filepath.Base(bin), data).Files[0]
		files = append(files, file{debugfiles.ObjectRef{DebugID: m.DebugID}, probes(t, data, 2000)})
	}
	base := heapAfterGC()
	var peak uint64
	for round := range 3 {
		for i, f := range files {
			mod, err := r.Find(ctx, "p", f.ref)
			if err != nil {
				t.Fatalf("%s: %v", pkgs[i], err)
			}
			resolved := 0
			for _, a := range f.addrs {
				if _, err := mod.Lookup(a); err == nil {
					resolved++
				}
			}
			if resolved < len(f.addrs)/2 {
				t.Errorf("%s: %d of %d probes resolved", pkgs[i], resolved, len(f.addrs))
			}
			mod = nil
			st := r.CacheStats()
			heap := heapAfterGC()
			peak = max(peak, heap)
			if st.Bytes > memBudget {
				t.Errorf("round %d %s: memory layer holds %d bytes, budget %d", round, pkgs[i], st.Bytes, memBudget)
			}
			if heap > base+memBudget+overhead {
				t.Errorf("round %d %s: heap %d MiB over a %d MiB baseline, allowed budget %d MiB + %d MiB", round, pkgs[i], heap>>20, base>>20, memBudget>>20, overhead>>20)
			}
			if ds := r.disk.Stats(); ds.Bytes > diskBudget {
				t.Errorf("disk cache holds %d bytes, budget %d", ds.Bytes, diskBudget)
			}
		}
	}
	st, ds, dst := r.CacheStats(), r.disk.Stats(), r.DerivedStats()
	r.Wait()
	t.Logf("RSS %s; heap baseline %d MiB, peak %d MiB; memory %+v; disk %+v; derived %+v", rss(), base>>20, peak>>20, st, ds, dst)
	if st.Evictions == 0 || ds.Evictions == 0 {
		t.Errorf("nothing was evicted (memory %d, disk %d): the budgets were not exercised", st.Evictions, ds.Evictions)
	}
	if dst.Builds < int64(len(pkgs)) {
		t.Errorf("%d builds for %d files", dst.Builds, len(pkgs))
	}
}

// rss is the process's resident set as the kernel reports it (for the
// log: under -race it includes the detector's shadow memory).
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
