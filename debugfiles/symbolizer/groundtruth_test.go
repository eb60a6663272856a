package symbolizer_test

import (
	"bufio"
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/testenv"
)

// fixtureDir holds binaries built once per test binary (see TestMain).
var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "symbolizer-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func symDir(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "sym")
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// fixture builds the named variant once per test binary and returns its path.
func fixture(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[name]; ok {
		if p == "" {
			t.Fatalf("fixture %s failed to build earlier", name)
		}
		return p
	}
	buildCache[name] = ""
	out := filepath.Join(fixtureDir, name)
	src := symDir(t)
	gxx := testenv.Tool(t, "g++")
	gcc := testenv.Tool(t, "gcc")
	switch name {
	case "cpp-dwarf4":
		run(t, src, gxx, "-O2", "-g", "-gdwarf-4", "-o", out, "prog.cpp")
	case "cpp-dwarf5":
		run(t, src, gxx, "-O2", "-g", "-gdwarf-5", "-o", out, "prog.cpp")
	case "cpp-gz":
		run(t, src, gxx, "-O2", "-g", "-gz", "-o", out, "prog.cpp")
	case "cpp-zstd":
		// gcc 12 has no -gz=zstd; objcopy (binutils 2.40) does.
		run(t, src, testenv.Tool(t, "objcopy"), "--compress-debug-sections=zstd", fixtureLocked(t, "cpp-dwarf5"), out)
	case "cpp-rdynamic":
		run(t, src, gxx, "-O2", "-g", "-rdynamic", "-o", out, "prog.cpp")
	case "cpp-strip-debug":
		run(t, src, testenv.Tool(t, "strip"), "--strip-debug", "-o", out, fixtureLocked(t, "cpp-dwarf5"))
	case "cpp-strip-all":
		run(t, src, testenv.Tool(t, "strip"), "-o", out, fixtureLocked(t, "cpp-rdynamic"))
	case "cpp-debug-only":
		run(t, src, testenv.Tool(t, "objcopy"), "--only-keep-debug", fixtureLocked(t, "cpp-dwarf5"), out)
	case "c-dwarf4":
		run(t, src, gcc, "-O2", "-g", "-gdwarf-4", "-o", out, "prog.c")
	case "c-dwarf5":
		run(t, src, gcc, "-O2", "-g", "-gdwarf-5", "-o", out, "prog.c")
	case "go-dwarf":
		run(t, filepath.Join(src, "goprog"), testenv.Tool(t, "go"), "build", "-o", out, ".")
	case "go-nodwarf":
		run(t, filepath.Join(src, "goprog"), testenv.Tool(t, "go"), "build", "-ldflags=-w", "-o", out, ".")
	case "go-stripped":
		run(t, filepath.Join(src, "goprog"), testenv.Tool(t, "go"), "build", "-ldflags=-s -w", "-o", out, ".")
	case "gocrash-dwarf", "gocrash-nodwarf", "gocrash-stripped":
		// testdata/native/gocrash: generics, closures and two levels of
		// inlining around the reporting call.
		flags := map[string]string{"gocrash-dwarf": "", "gocrash-nodwarf": "-w", "gocrash-stripped": "-s -w"}[name]
		run(t, filepath.Join(src, "..", "gocrash"), testenv.Tool(t, "go"), "build", "-ldflags="+flags, "-o", out, ".")
	case "tiny-dwarf4", "tiny-dwarf5":
		run(t, src, gcc, "-O2", "-g", "-gdwarf-"+name[len(name)-1:], "-nostdlib", "-static", "-Wl,--build-id",
			"-Wl,-z,max-page-size=0x10", "-Wl,-z,noseparate-code", "-o", out, "tiny.c")
	case "tiny-stripped":
		run(t, src, testenv.Tool(t, "strip"), "-o", out, fixtureLocked(t, "tiny-dwarf5"))
	case "go-big":
		// cmd/compile from GOROOT with uncompressed DWARF: ~45 MB, a real
		// program with deep inlining, self-contained (no download). Cold,
		// the build costs about a CPU-minute; GOCACHE makes reruns instant.
		run(t, fixtureDir, testenv.Tool(t, "go"), "build", "-ldflags=-compressdwarf=false", "-o", out, "cmd/compile")
	case "go-big-nodwarf":
		// cmd/compile as production Go binaries ship: -w, no DWARF. The
		// packages are those of go-big: GOCACHE makes it a link.
		run(t, fixtureDir, testenv.Tool(t, "go"), "build", "-ldflags=-w", "-o", out, "cmd/compile")
	default:
		t.Fatalf("unknown fixture %s", name)
	}
	buildCache[name] = out
	return out
}

// fixtureLocked builds a dependency while fixture already holds buildMu.
func fixtureLocked(t testing.TB, name string) string {
	buildMu.Unlock()
	defer buildMu.Lock()
	return fixture(t, name)
}

func openFile(t testing.TB, p string) debugfiles.Module {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := symbolizer.Open(f, st.Size(), debugfiles.FileMeta{Kind: debugfiles.KindELF, ObjectName: filepath.Base(p)})
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	return m
}

// probeAddresses picks addresses the way the brief asks: every line-table
// row, every function symbol's start and middle, and random text addresses.
// Row and symbol addresses come from debug/elf and debug/dwarf directly, not
// from the code under test.
func probeAddresses(t testing.TB, p string, random int, seed int64) []uint64 {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[uint64]bool{}
	if d, err := f.DWARF(); err == nil {
		r := d.Reader()
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				break
			}
			if e.Tag != dwarf.TagCompileUnit {
				r.SkipChildren()
				continue
			}
			lr, err := d.LineReader(e)
			if err != nil || lr == nil {
				r.SkipChildren()
				continue
			}
			var le dwarf.LineEntry
			for lr.Next(&le) == nil {
				if !le.EndSequence {
					set[le.Address] = true
				}
			}
			r.SkipChildren()
		}
	}
	syms, _ := f.Symbols()
	dyn, _ := f.DynamicSymbols()
	for _, s := range append(syms, dyn...) {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			set[s.Value] = true
			set[s.Value+s.Size/2] = true
		}
	}
	text := f.Section(".text")
	if text == nil {
		t.Fatalf("%s: no .text", p)
	}
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < random; i++ {
		set[text.Addr+uint64(rng.Int63n(int64(text.Size)))] = true
	}
	out := make([]uint64, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

type llvmFrame struct {
	FunctionName string
	FileName     string
	Line         int
	StartAddress string
}

type llvmResult struct {
	Address string
	Symbol  []llvmFrame
}

// llvmSymbolize asks llvm-symbolizer about all addresses in one run (stdin)
// and returns, per address, the frames outermost first (llvm prints
// innermost first), or nil when llvm knows nothing.
func llvmSymbolize(t testing.TB, obj string, addrs []uint64, extra ...string) [][]llvmFrame {
	t.Helper()
	tool := testenv.Tool(t, "llvm-symbolizer")
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	args := append([]string{"--inlining", "--output-style=JSON", "--obj=" + obj}, extra...)
	cmd := exec.Command(tool, args...)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v\n%s", err, stderr.String())
	}
	res := make([][]llvmFrame, 0, len(addrs))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r llvmResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("llvm-symbolizer output %q: %v", sc.Text(), err)
		}
		frames := r.Symbol
		if len(frames) == 1 && frames[0].FunctionName == "" && frames[0].FileName == "" {
			frames = nil
		}
		for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
			frames[i], frames[j] = frames[j], frames[i]
		}
		res = append(res, frames)
	}
	if len(res) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d of %d addresses", len(res), len(addrs))
	}
	return res
}

// Categories of disagreement that are understood and allowed. Everything
// else fails the test.
const (
	catSymtabName   = "llvm names the outermost frame from the ELF symbol (clone/.cold suffix)"
	catQualified    = "no linkage name: we qualify with namespaces/classes, llvm prints the bare DW_AT_name"
	catPathClean    = "debug/dwarf cleans joined paths (a/b/../c), llvm keeps them verbatim"
	catLLVMDemangle = "llvm 14's demangler gives up on the name (prints it mangled); ianlancetaylor/demangle handles it"
	catSTTFile      = "no line info: llvm takes a bare file name from the STT_FILE symbol"
	catGoGeneric    = "Go name with brackets: we print it as the Go runtime does (\"f[...]\"), llvm the DWARF/ELF name"
)

// goRuntimeSpelling is runtime.funcNameForPrint's rule (runtime/traceback.go),
// restated here so the test does not trust the code under test: everything
// from the first '[' to the last ']' becomes "[...]".
func goRuntimeSpelling(name string) string {
	i, j := strings.IndexByte(name, '['), strings.LastIndexByte(name, ']')
	if i < 0 || j <= i {
		return name
	}
	return name[:i] + "[...]" + name[j+1:]
}

var cloneSuffix = regexp.MustCompile(`^(.*?)(?: \((?:\.[A-Za-z_]+(?:\.[0-9]+)*)+\)|(?:\.(?:constprop|isra|part|cold|lto_priv|localalias|abi0)(?:\.[0-9]+)*)+)$`)

type comparison struct {
	total, agree, bothEmpty int
	explained               map[string]int
	samples                 map[string][]string
	failures                []string
}

func (c *comparison) rate() float64 {
	return float64(c.agree+c.bothEmpty) / float64(c.total)
}

// compare checks one address: function, file, line of every level and the
// number of levels. It returns "" on exact agreement, else a category or
// a failure description.
func compareFrames(ours []debugfiles.Location, ourErr error, theirs []llvmFrame) (category string, diff string) {
	if ourErr != nil && !errors.Is(ourErr, debugfiles.ErrNoSymbol) {
		return "", "error: " + ourErr.Error()
	}
	if len(theirs) == 0 && len(ours) == 0 {
		return "", ""
	}
	if len(theirs) != len(ours) {
		return "", fmt.Sprintf("levels: ours %d %s, llvm %d %s", len(ours), fmtOurs(ours), len(theirs), fmtLLVM(theirs))
	}
	for i := range ours {
		o, l := ours[i], theirs[i]
		if o.Inlined != (i > 0) {
			return "", fmt.Sprintf("level %d Inlined=%v", i, o.Inlined)
		}
		// llvm 14 prints "> >"; newer llvm and demangle.LLVMStyle print ">>".
		// Purely typographic: normalized, not counted as a difference.
		llvmName := l.FunctionName
		for strings.Contains(llvmName, "> >") {
			llvmName = strings.ReplaceAll(llvmName, "> >", ">>")
		}
		ourName := o.Function
		for strings.Contains(ourName, "> >") {
			ourName = strings.ReplaceAll(ourName, "> >", ">>")
		}
		// Same kind of spacing difference: "operator< <T>" vs "operator<<T>".
		ourName = strings.ReplaceAll(ourName, "operator< <", "operator<<")
		if ourName != llvmName {
			switch {
			case strings.Contains(llvmName, "[") && goRuntimeSpelling(llvmName) == ourName:
				category = catGoGeneric
			case i == 0 && strings.Contains(llvmName, "[") && goRuntimeSpelling(cloneSuffix.ReplaceAllString(llvmName, "$1")) == ourName:
				category = catGoGeneric
			case i == 0 && strings.ReplaceAll(ourName, "·", ".") == llvmName:
				category = catSymtabName
			case i == 0 && cloneSuffix.MatchString(llvmName) && cloneSuffix.FindStringSubmatch(llvmName)[1] == ourName:
				category = catSymtabName
			case strings.HasPrefix(llvmName, "_Z") && o.Symbol == llvmName:
				category = catLLVMDemangle
			case strings.HasSuffix(ourName, "::"+llvmName):
				if category == "" {
					category = catQualified
				}
			default:
				return "", fmt.Sprintf("level %d function: ours %q, llvm %q", i, o.Function, l.FunctionName)
			}
		}
		if o.File != l.FileName {
			switch {
			case l.FileName != "" && path.Clean(l.FileName) == o.File:
				if category == "" {
					category = catPathClean
				}
			case o.File == "" && o.Line == 0 && l.Line == 0 && !strings.Contains(l.FileName, "/"):
				category = catSTTFile
			default:
				return "", fmt.Sprintf("level %d file: ours %q, llvm %q", i, o.File, l.FileName)
			}
		}
		if o.Line != l.Line {
			return "", fmt.Sprintf("level %d line: ours %d, llvm %d (%s / %s)", i, o.Line, l.Line, fmtOurs(ours), fmtLLVM(theirs))
		}
	}
	return category, ""
}

func fmtOurs(ls []debugfiles.Location) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "[%s %s:%d]", l.Function, l.File, l.Line)
	}
	return b.String()
}

func fmtLLVM(ls []llvmFrame) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "[%s %s:%d]", l.FunctionName, l.FileName, l.Line)
	}
	return b.String()
}

func compareWithLLVM(t testing.TB, mod debugfiles.Module, llvmObj string, addrs []uint64, extra ...string) *comparison {
	t.Helper()
	want := llvmSymbolize(t, llvmObj, addrs, extra...)
	c := &comparison{explained: map[string]int{}, samples: map[string][]string{}}
	for i, a := range addrs {
		ours, err := mod.Lookup(a)
		c.total++
		cat, diff := compareFrames(ours, err, want[i])
		switch {
		case diff != "":
			c.failures = append(c.failures, fmt.Sprintf("0x%x: %s", a, diff))
		case cat != "":
			c.explained[cat]++
			if len(c.samples[cat]) < 3 {
				c.samples[cat] = append(c.samples[cat], fmt.Sprintf("0x%x: ours %s llvm %s", a, fmtOurs(ours), fmtLLVM(want[i])))
			}
		case len(ours) == 0:
			c.bothEmpty++
		default:
			c.agree++
		}
	}
	return c
}

func (c *comparison) report(t testing.TB, name string) {
	t.Helper()
	t.Logf("%s: %d addresses, %d agree exactly, %d both without symbol, %.2f%% exact; explained: %v; unexplained: %d",
		name, c.total, c.agree, c.bothEmpty, 100*c.rate(), c.explained, len(c.failures))
	for cat, ss := range c.samples {
		t.Logf("  e.g. %s:", cat)
		for _, s := range ss {
			t.Logf("    %.300s", s)
		}
	}
	for i, f := range c.failures {
		if i == 20 {
			t.Logf("... %d more", len(c.failures)-20)
			break
		}
		t.Logf("  %s", f)
	}
}

// TestGroundTruthLLVM compares Lookup with llvm-symbolizer --inlining on
// every line-table row, every function start/middle and random text
// addresses of each fixture variant.
func TestGroundTruthLLVM(t *testing.T) {
	// Upper bounds, in percent of probed addresses, for each explained
	// category. The fixtures are small, so crt startup code without DWARF
	// (catSTTFile) and gcc clones (catSymtabName) weigh more than in real
	// programs.
	cpp := map[string]float64{catSymtabName: 25, catSTTFile: 5, catQualified: 10, catLLVMDemangle: 15}
	c := map[string]float64{catSymtabName: 10, catSTTFile: 20}
	tests := []struct {
		variant string
		// llvmObj: the file llvm-symbolizer reads; defaults to the variant.
		llvmObj    string
		maxPct     map[string]float64
		symtabOnly bool
	}{
		{variant: "cpp-dwarf4", maxPct: cpp},
		{variant: "cpp-dwarf5", maxPct: cpp},
		{variant: "cpp-gz", maxPct: cpp},
		{variant: "cpp-zstd", llvmObj: "cpp-dwarf5", maxPct: cpp},
		{variant: "cpp-debug-only", llvmObj: "cpp-dwarf5", maxPct: cpp},
		{variant: "c-dwarf4", maxPct: c},
		{variant: "c-dwarf5", maxPct: c},
		{variant: "cpp-strip-debug", symtabOnly: true},
		{variant: "cpp-strip-all", symtabOnly: true},
		{variant: "go-dwarf", maxPct: map[string]float64{catSymtabName: 3, catPathClean: 2, catSTTFile: 0.1, catGoGeneric: 6}},
	}
	for _, tc := range tests {
		t.Run(tc.variant, func(t *testing.T) {
			bin := fixture(t, tc.variant)
			llvmObj := bin
			if tc.llvmObj != "" {
				// llvm-symbolizer 14 cannot decompress zstd sections, and it
				// reads a debug-only file's addresses like the original's.
				llvmObj = fixture(t, tc.llvmObj)
			}
			mod := openFile(t, bin)
			st, _ := symbolizer.ModuleStats(mod)
			if tc.symtabOnly == st.HasDWARF {
				t.Fatalf("HasDWARF = %v, want %v", st.HasDWARF, !tc.symtabOnly)
			}
			probeFrom := llvmObj
			random := 2000
			if strings.HasPrefix(tc.variant, "go") {
				random = 3000
			}
			addrs := probeAddresses(t, probeFrom, random, 1)
			c := compareWithLLVM(t, mod, llvmObj, addrs)
			c.report(t, tc.variant)
			if len(c.failures) > 0 {
				t.Errorf("%d unexplained disagreements with llvm-symbolizer", len(c.failures))
			}
			for cat, n := range c.explained {
				if pct := 100 * float64(n) / float64(c.total); pct > tc.maxPct[cat] {
					t.Errorf("category %q: %.2f%% of addresses > %.2f%%", cat, pct, tc.maxPct[cat])
				}
			}
			if c.agree < c.total/2 {
				t.Errorf("only %d of %d addresses resolved identically", c.agree, c.total)
			}
		})
	}
}
