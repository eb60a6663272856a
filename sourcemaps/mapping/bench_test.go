package mapping

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-sourcemap/sourcemap"
	"github.com/stacklens/stacklens/internal/testenv"
)

var (
	benchOnce sync.Once
	benchData []byte
	benchErr  error
)

// benchMap returns the benchmark map: $MAPPING_BENCH_MAP if set (so
// bench/sourcemaps/run.sh measures the very file it gives node), else the
// bundle of testdata/bench/entry.js that esbuild builds once per binary.
func benchMap(b *testing.B) []byte {
	b.Helper()
	if p := os.Getenv("MAPPING_BENCH_MAP"); p != "" {
		benchOnce.Do(func() { benchData, benchErr = os.ReadFile(p) })
	} else {
		nm := testenv.NodeModules(b)
		esbuild := testenv.NodeBin(b, "esbuild")
		benchOnce.Do(func() {
			dir, err := os.MkdirTemp("", "mapping-bench-")
			if err != nil {
				benchErr = err
				return
			}
			defer os.RemoveAll(dir)
			cmd := exec.Command(esbuild, "testdata/bench/entry.js", "--bundle", "--minify", "--sourcemap",
				"--platform=node", "--format=esm", "--log-level=error", "--outfile="+filepath.Join(dir, "bundle.js"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
			if out, err := cmd.CombinedOutput(); err != nil {
				benchErr = &exec.ExitError{Stderr: out}
				return
			}
			benchData, benchErr = os.ReadFile(filepath.Join(dir, "bundle.js.map"))
		})
	}
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchData
}

func BenchmarkParse5MB(b *testing.B) {
	data := benchMap(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var m *Map
	for b.Loop() {
		var err error
		if m, err = Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.SizeBytes())/float64(len(data)), "retained/input")
	b.ReportMetric(float64(m.NumTokens()), "tokens")
}

// BenchmarkGoSourcemapParse5MB is the required library on the same input,
// for scale.
func BenchmarkGoSourcemapParse5MB(b *testing.B) {
	data := benchMap(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sourcemap.Parse("", data); err != nil {
			b.Fatal(err)
		}
	}
}

// lookupPositions picks n positions the way bench/sourcemaps/bench.mjs
// does: a uniformly random segment, then 0-3 columns past its start.
func lookupPositions(m *Map, n int) [][2]int {
	var toks [][2]int
	m.Tokens(func(t Token) bool {
		toks = append(toks, [2]int{t.GenLine, t.GenCol})
		return true
	})
	r := rand.New(rand.NewPCG(1, 2))
	pos := make([][2]int, n)
	for i := range pos {
		t := toks[r.IntN(len(toks))]
		pos[i] = [2]int{t[0], t[1] + r.IntN(4)}
	}
	return pos
}

func BenchmarkLookup(b *testing.B) {
	m, err := Parse(benchMap(b))
	if err != nil {
		b.Fatal(err)
	}
	pos := lookupPositions(m, 1<<16)
	b.ReportAllocs()
	i, found := 0, 0
	for b.Loop() {
		p := pos[i&(len(pos)-1)]
		if _, ok := m.Lookup(p[0], p[1]); ok {
			found++
		}
		i++
	}
	if found != i {
		b.Fatalf("%d of %d lookups found nothing", i-found, i)
	}
}
