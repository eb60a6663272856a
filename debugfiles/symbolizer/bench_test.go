package symbolizer_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/testenv"
)

// benchTargets: the large Go binary and the C++ fixture.
var benchTargets = []string{"go-big", "cpp-dwarf5"}

func randomTextAddrs(tb testing.TB, bin string, n int) []uint64 {
	f, err := elf.Open(bin)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	text := f.Section(".text")
	rng := rand.New(rand.NewSource(42))
	out := make([]uint64, n)
	for i := range out {
		out[i] = text.Addr + uint64(rng.Int63n(int64(text.Size)))
	}
	return out
}

func openBytes(tb testing.TB, data []byte) debugfiles.Module {
	m, err := symbolizer.Open(bytes.NewReader(data), int64(len(data)), debugfiles.FileMeta{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkCold: Open + index + 10,000 lookups, the file already in memory.
func BenchmarkCold(b *testing.B) {
	for _, name := range benchTargets {
		b.Run(name, func(b *testing.B) {
			bin := fixture(b, name)
			data, err := os.ReadFile(bin)
			if err != nil {
				b.Fatal(err)
			}
			addrs := randomTextAddrs(b, bin, 10000)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := openBytes(b, data)
				for _, a := range addrs {
					m.Lookup(a)
				}
			}
		})
	}
}

// BenchmarkWarm: one lookup on an opened module (names already demangled
// once, as in a long-running server).
func BenchmarkWarm(b *testing.B) {
	for _, name := range benchTargets {
		b.Run(name, func(b *testing.B) {
			bin := fixture(b, name)
			data, err := os.ReadFile(bin)
			if err != nil {
				b.Fatal(err)
			}
			addrs := randomTextAddrs(b, bin, 10000)
			m := openBytes(b, data)
			for _, a := range addrs {
				m.Lookup(a)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Lookup(addrs[i%len(addrs)])
			}
		})
	}
}

func timeLLVM(tb testing.TB, bin string, addrs []uint64) time.Duration {
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	cmd := exec.Command(testenv.Tool(tb, "llvm-symbolizer"), "--inlining", "--output-style=JSON", "--obj="+bin)
	cmd.Stdin = &in
	cmd.Stdout = new(bytes.Buffer)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkVsLLVM measures both tools in the same run and reports the
// ratios: cold = one llvm-symbolizer process over 10,000 addresses vs
// Open + 10,000 lookups; warm per address = llvm's marginal cost
// ((t(20,000) - t(10,000)) / 10,000) vs our warm lookup.
func BenchmarkVsLLVM(b *testing.B) {
	for _, name := range benchTargets {
		b.Run(name, func(b *testing.B) {
			bin := fixture(b, name)
			data, err := os.ReadFile(bin)
			if err != nil {
				b.Fatal(err)
			}
			addrs := randomTextAddrs(b, bin, 20000)
			var llvmCold, llvmTwice, oursCold, oursWarm time.Duration
			for i := 0; i < b.N; i++ {
				llvmCold += timeLLVM(b, bin, addrs[:10000])
				llvmTwice += timeLLVM(b, bin, addrs)
				t0 := time.Now()
				m := openBytes(b, data)
				for _, a := range addrs[:10000] {
					m.Lookup(a)
				}
				oursCold += time.Since(t0)
				t1 := time.Now()
				for _, a := range addrs[:10000] {
					m.Lookup(a)
				}
				oursWarm += time.Since(t1)
			}
			n := float64(b.N)
			llvmWarmNs := float64(llvmTwice-llvmCold) / n / 10000
			oursWarmNs := float64(oursWarm) / n / 10000
			b.ReportMetric(float64(oursCold.Milliseconds())/n, "ours-cold-ms")
			b.ReportMetric(float64(llvmCold.Milliseconds())/n, "llvm-cold-ms")
			b.ReportMetric(float64(llvmCold)/float64(oursCold), "cold-speedup")
			b.ReportMetric(oursWarmNs, "ours-warm-ns/addr")
			b.ReportMetric(llvmWarmNs, "llvm-warm-ns/addr")
			b.ReportMetric(llvmWarmNs/oursWarmNs, "warm-speedup")
		})
	}
}
