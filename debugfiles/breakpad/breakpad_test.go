package breakpad_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/breakpad"
	"github.com/stacklens/stacklens/internal/testenv"
)

func fixtureDir(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident", "breakpad")
}

func parseFixture(t testing.TB) *breakpad.Module {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir(t), "prog.sym"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := breakpad.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type frame struct {
	Function, File string
	Line           int
}

// symbolize runs llvm-symbolizer --inlining on prog at addrs and returns the
// frames outermost first (as Module.Lookup orders them).
func symbolize(t *testing.T, addrs []uint64) [][]frame {
	t.Helper()
	tool := testenv.Tool(t, "llvm-symbolizer")
	var in strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	cmd := exec.Command(tool, "--obj="+filepath.Join(fixtureDir(t), "prog"), "--inlining")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(strings.Trim(string(out), "\n"), "\n\n")
	if len(blocks) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d blocks for %d addresses", len(blocks), len(addrs))
	}
	res := make([][]frame, len(addrs))
	for i, b := range blocks {
		lines := strings.Split(b, "\n")
		var fs []frame
		for k := 0; k+1 < len(lines); k += 2 {
			loc := lines[k+1]
			loc = loc[:strings.LastIndexByte(loc, ':')] // drop the column
			colon := strings.LastIndexByte(loc, ':')
			n, err := strconv.Atoi(loc[colon+1:])
			if err != nil {
				t.Fatalf("llvm-symbolizer line %q", lines[k+1])
			}
			fs = append([]frame{{Function: lines[k], File: loc[:colon], Line: n}}, fs...)
		}
		res[i] = fs
	}
	return res
}

// TestLookupMatchesLLVMSymbolizer compares every byte of every FUNC (and the
// PUBLIC-only main) with llvm-symbolizer --inlining on the binary the .sym
// describes: function (demangled), file and line at each inline level.
func TestLookupMatchesLLVMSymbolizer(t *testing.T) {
	m := parseFixture(t)
	sym, err := os.ReadFile(filepath.Join(fixtureDir(t), "prog.sym"))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []uint64
	publics := map[uint64]bool{}
	for _, line := range strings.Split(string(sym), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && f[0] == "FUNC":
			start, _ := strconv.ParseUint(f[1], 16, 64)
			size, _ := strconv.ParseUint(f[2], 16, 64)
			for a := start; a < start+size; a++ {
				addrs = append(addrs, a)
			}
		case len(f) >= 4 && f[0] == "PUBLIC":
			a, _ := strconv.ParseUint(f[1], 16, 64)
			for k := uint64(0); k < 16; k++ {
				addrs = append(addrs, a+k)
				publics[a+k] = true
			}
		}
	}
	if len(addrs) < 100 {
		t.Fatalf("only %d addresses in the fixture", len(addrs))
	}
	want := symbolize(t, addrs)
	inlined := 0
	for i, a := range addrs {
		got, err := m.Lookup(a)
		if err != nil {
			t.Fatalf("Lookup(%#x): %v", a, err)
		}
		if publics[a] {
			if len(got) != 1 || got[0].Function != want[i][0].Function || got[0].Line != 0 {
				t.Errorf("%#x: PUBLIC fallback %+v, llvm-symbolizer outermost %+v", a, got, want[i][0])
			}
			continue
		}
		if len(got) != len(want[i]) {
			t.Errorf("%#x: %d levels, llvm-symbolizer %d: %+v vs %+v", a, len(got), len(want[i]), got, want[i])
			continue
		}
		for k, w := range want[i] {
			g := got[k]
			if g.Function != w.Function || g.File != w.File || g.Line != w.Line || g.Inlined != (k > 0) {
				t.Errorf("%#x level %d: got %q %s:%d inlined=%v, llvm-symbolizer %q %s:%d", a, k, g.Function, g.File, g.Line, g.Inlined, w.Function, w.File, w.Line)
			}
		}
		if len(got) > 1 {
			inlined++
			if got[0].Symbol == got[0].Function || !strings.HasPrefix(got[0].Symbol, "_Z") {
				t.Errorf("%#x: Symbol %q should be the mangled name of %q", a, got[0].Symbol, got[0].Function)
			}
		}
	}
	if inlined == 0 {
		t.Error("the fixture exercised no inline chain")
	}
}

// TestMetaMatchesBinary: the .sym and the ELF it was made from identify alike.
func TestMetaMatchesBinary(t *testing.T) {
	m := parseFixture(t)
	f, err := os.Open(filepath.Join(fixtureDir(t), "prog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	elf, err := debugfiles.Identify(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	got := m.Meta()
	if got.DebugID != elf[0].DebugID || got.CodeID != elf[0].CodeID || got.Arch != elf[0].Arch || got.Kind != debugfiles.KindBreakpad {
		t.Errorf("sym meta %+v, binary %+v", got, elf[0])
	}
	if strings.Join(got.Features, ",") != "debug,symtab,unwind" {
		t.Errorf("features %v", got.Features)
	}
}

func TestLookupMisses(t *testing.T) {
	m := parseFixture(t)
	for _, a := range []uint64{0, 0x10, 0xffffffffffff} {
		if _, err := m.Lookup(a); !errors.Is(err, debugfiles.ErrNoSymbol) && a < 0x1000 {
			t.Errorf("Lookup(%#x) = %v, want ErrNoSymbol", a, err)
		}
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for name, text := range map[string]string{
		"empty":           "",
		"no module":       "FUNC 10 2 0 f\n",
		"bad module id":   "MODULE Linux x86_64 XYZ a\n",
		"line before":     "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\n10 2 3 0\n",
		"bad func":        "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nFUNC zz 2 0 f\n",
		"bad inline":      "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nFUNC 10 2 0 f\nINLINE 0 1 0 0 10\n",
		"deep inline":     "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nFUNC 10 2 0 f\nINLINE 99999 1 0 0 10 1\n",
		"two modules":     "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nMODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\n",
		"over-long line":  "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nPUBLIC 10 0 " + strings.Repeat("x", 2<<20) + "\n",
		"bad line fields": "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nFUNC 10 2 0 f\n10 2 x 0\n",
	} {
		if _, err := breakpad.Parse(strings.NewReader(text)); !errors.Is(err, debugfiles.ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzParse: any input parses or fails with ErrMalformed; Lookup on a parsed
// module never panics.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(fixtureDir(f), "prog.sym"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, n := range []int{0, 10, 60, len(data) / 2, len(data) - 3} {
		f.Add(data[:n])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := breakpad.Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, debugfiles.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, a := range []uint64{0, 0x10, 0x11a5, 0x11e0, 1 << 63} {
			locs, err := m.Lookup(a)
			if err == nil && len(locs) == 0 {
				t.Fatalf("Lookup(%#x): no frames and no error", a)
			}
		}
	})
}
