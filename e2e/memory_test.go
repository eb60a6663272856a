package e2e

import (
	"debug/elf"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/sourcemaps/mapping"
)

// TestServerRSSStaysInBudget runs `stacklens serve` with a 32 MiB memory
// budget (16 MiB for JS, 16 MiB for native) and a 32 MiB disk cache, and
// serves events for eight large artifacts in turn, three rounds: four Go
// programs with uncompressed DWARF (15-27 MB each) and four esbuild
// bundles of real packages (5-10 MB source maps each), together several
// times the budget once parsed. The process's resident set, read from
// /proc after every event, stays within the budget plus a bounded
// overhead, does not grow from round to round (what a round parses is
// evicted, not kept), and the caches report evictions.
func TestServerRSSStaysInBudget(t *testing.T) {
	const budget = 32 << 20
	srv := testenv.StartServer(t, "--cache-size", strconv.Itoa(budget), "--disk-cache-size", strconv.Itoa(budget))
	pid := srv.Cmd.Process.Pid
	base := serverRSS(t, pid)

	type artifact struct {
		name  string
		event map[string]any
		// frames counts the event's frames that must come back resolved.
		frames int
	}
	var arts []artifact
	for _, pkg := range []string{"cmd/pprof", "cmd/trace", "cmd/vet", "cmd/link"} {
		bin := bigGoBinary(t, pkg)
		stacklens(t, "upload", "debug-files", "--url", srv.URL, "--project", "mem", "--quiet", bin)
		ev, n := bigNativeEvent(t, bin)
		arts = append(arts, artifact{pkg, ev, n})
	}
	for i, opts := range [][]string{
		{"--minify", "--format=esm"},
		{"--minify", "--format=cjs"},
		{"--format=esm"},
		{"--minify-syntax", "--minify-whitespace", "--format=esm"},
	} {
		dir, ev, n := bigJSBundle(t, fmt.Sprintf("bundle%d", i), opts)
		stacklens(t, "upload", "sourcemaps", dir, "--url", srv.URL, "--project", "mem",
			"--release", "mem@1", "--url-prefix", "~/", "--quiet")
		arts = append(arts, artifact{"bundle " + strings.Join(opts, " "), ev, n})
	}
	afterUploads := serverRSS(t, pid)

	var roundPeak [3]int64
	for round := range roundPeak {
		for _, a := range arts {
			res := symbolicate(t, srv.URL, "mem", a.event)
			if got := resolvedFrames(res); got < a.frames {
				t.Fatalf("round %d, %s: %d frames resolved, want %d", round, a.name, got, a.frames)
			}
			rss := serverRSS(t, pid)
			roundPeak[round] = max(roundPeak[round], rss)
		}
	}
	metrics := get(t, srv.URL+"/metrics")
	t.Logf("RSS: started %d MiB, after uploads %d MiB, peak per round %d/%d/%d MiB (budget %d MiB)",
		base>>20, afterUploads>>20, roundPeak[0]>>20, roundPeak[1]>>20, roundPeak[2]>>20, budget>>20)
	t.Logf("%s", grepLines(metrics, "stacklens_cache_bytes"))

	// The overhead: what one parse holds while it runs (the largest
	// program's DWARF index under construction) and what the Go runtime
	// keeps of freed heap; it does not depend on how many artifacts there
	// are, which the round-to-round comparison checks.
	const overhead = 128 << 20
	peak := max(roundPeak[0], roundPeak[1], roundPeak[2])
	if peak > base+budget+overhead {
		t.Errorf("peak RSS %d MiB > start %d MiB + budget %d MiB + overhead %d MiB", peak>>20, base>>20, budget>>20, overhead>>20)
	}
	if roundPeak[2] > roundPeak[0]+32<<20 {
		t.Errorf("RSS grows from round to round: %d MiB, then %d MiB", roundPeak[0]>>20, roundPeak[2]>>20)
	}
	for _, series := range []string{
		`stacklens_cache_evictions_total{cache="sourcemaps",layer="memory"}`,
		`stacklens_cache_evictions_total{cache="debugfiles",layer="memory"}`,
	} {
		if metricValue(metrics, series) < 1 {
			t.Errorf("no evictions in %s: the budget was not exercised\n%s", series, grepLines(metrics, "stacklens_cache_evictions"))
		}
	}
	for _, line := range strings.Split(grepLines(metrics, `stacklens_cache_bytes{`), "\n") {
		if !strings.Contains(line, `layer="memory"`) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && v > budget/2 {
			t.Errorf("memory layer over its half of the budget: %s", line)
		}
	}
}

// serverRSS is the resident set of process pid.
func serverRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// bigGoBinary builds a program of the Go distribution with uncompressed
// DWARF (GOCACHE makes it a link after the first time).
func bigGoBinary(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(sharedTempDir(t, "bigbins"), strings.ReplaceAll(pkg, "/", "_"))
	if _, err := os.Stat(out); err == nil {
		return out
	}
	runCmd(t, sharedTempDir(t, "bigbins"), nil, testenv.Tool(t, "go"), "build", "-ldflags=-compressdwarf=false", "-o", out, pkg)
	return out
}

// bigNativeEvent is an event with 20 frames at random .text addresses of
// the (non-PIE) binary, loaded at its link address.
func bigNativeEvent(t *testing.T, bin string) (map[string]any, int) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := f.Section(".text")
	load := uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			load = p.Vaddr
			break
		}
	}
	fh, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	metas, err := debugfiles.Identify(fh, st.Size())
	if err != nil || len(metas) == 0 {
		t.Fatalf("identify %s: %v", bin, err)
	}
	r := rand.New(rand.NewPCG(uint64(st.Size()), 5))
	var frames []any
	for range 20 {
		frames = append(frames, map[string]any{"instruction_addr": fmt.Sprintf("0x%x", text.Addr+r.Uint64N(text.Size))})
	}
	return map[string]any{
		"platform": "native",
		"exception": map[string]any{"values": []any{map[string]any{"type": "SIGSEGV",
			"stacktrace": map[string]any{"frames": frames}}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{
			"type": "elf", "code_file": bin, "debug_id": metas[0].DebugID, "code_id": metas[0].CodeID,
			"image_addr": fmt.Sprintf("0x%x", load), "image_size": st.Size(),
		}}},
	}, 15
}

// bigJSBundle bundles the benchmark entry (rollup, terser, acorn, axios,
// preact, ajv) with esbuild and the given options, and returns the
// directory to upload and an event with 20 frames at mapped positions.
func bigJSBundle(t *testing.T, name string, opts []string) (string, map[string]any, int) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	out := filepath.Join(dir, name+".js")
	args := append([]string{repoPath(t, "sourcemaps", "mapping", "testdata", "bench", "entry.js"),
		"--bundle", "--sourcemap", "--platform=node", "--log-level=error", "--outfile=" + out}, opts...)
	runCmd(t, "", []string{"NODE_PATH=" + testenv.NodeModules(t)}, testenv.NodeBin(t, "esbuild"), args...)
	data, err := os.ReadFile(out + ".map")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var toks []mapping.Token
	m.Tokens(func(tok mapping.Token) bool {
		if tok.Source >= 0 {
			toks = append(toks, tok)
		}
		return true
	})
	r := rand.New(rand.NewPCG(uint64(len(data)), 6))
	var frames []any
	for range 20 {
		tok := toks[r.IntN(len(toks))]
		frames = append(frames, map[string]any{"abs_path": "https://mem.example/" + name + ".js",
			"lineno": tok.GenLine + 1, "colno": tok.GenCol + 1, "function": "x"})
	}
	return dir, map[string]any{
		"platform": "javascript", "release": "mem@1",
		"exception": map[string]any{"values": []any{map[string]any{"type": "Error",
			"stacktrace": map[string]any{"frames": frames}}}},
	}, 20
}

// resolvedFrames counts the frames of an enriched event that resolved.
func resolvedFrames(res map[string]any) int {
	n := 0
	for _, v := range list(obj(res["exception"])["values"]) {
		for _, f := range list(obj(obj(v)["stacktrace"])["frames"]) {
			if obj(obj(f)["data"])["symbolicator_status"] == "symbolicated" {
				n++
			}
		}
	}
	return n
}
