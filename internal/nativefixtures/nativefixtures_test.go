package nativefixtures_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/nativefixtures"
	"github.com/stacklens/stacklens/internal/testenv"
)

type event struct {
	Exception struct {
		Values []struct {
			Stacktrace struct {
				Frames []struct {
					InstructionAddr string `json:"instruction_addr"`
				} `json:"frames"`
				Adjustment string `json:"instruction_addr_adjustment"`
			} `json:"stacktrace"`
		} `json:"values"`
	} `json:"exception"`
	DebugMeta struct {
		Images []struct {
			CodeFile  string `json:"code_file"`
			CodeID    string `json:"code_id"`
			DebugID   string `json:"debug_id"`
			ImageAddr string `json:"image_addr"`
			ImageSize uint64 `json:"image_size"`
		} `json:"images"`
	} `json:"debug_meta"`
}

func hexU(t *testing.T, s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("bad address %q", s)
	}
	return v
}

// TestCrashersSymbolicate runs every crasher and resolves its event's frames
// in the main executable with the symbolizer: the functions the source
// calls must appear in order, and each frame must agree with
// llvm-symbolizer on the innermost function and line at the same address.
func TestCrashersSymbolicate(t *testing.T) {
	want := map[string][]string{
		// Innermost names along the crashing path, outermost call first.
		"c":   {"main", "dispatch", "run_job", "store"},
		"cpp": {"main", "run(shop::Checkout*, shop::Ledger<shop::Item>&)", "shop::CardCheckout::pay(shop::Ledger<shop::Item>&)", "shop::Ledger<shop::Item>::close()", "shop::write_total(int*, int)"},
		"go":  {"main.main", "main.crash", "main.(*square).crashWalk", "main.crashLeaf"},
	}
	for _, c := range nativefixtures.BuildCrashers(t) {
		t.Run(c.Name, func(t *testing.T) {
			var ev event
			if err := json.Unmarshal(c.Event, &ev); err != nil {
				t.Fatalf("event: %v\n%s", err, c.Event)
			}
			img := ev.DebugMeta.Images[0]
			if img.CodeFile != c.Binary || len(img.CodeID) != 40 || len(img.DebugID) != 36 {
				t.Fatalf("first image %+v, want the executable %s with a build-id", img, c.Binary)
			}
			for _, p := range []string{c.Stripped, c.DebugOnly} {
				if p == "" {
					continue
				}
				if _, err := os.Stat(p); err != nil {
					t.Error(err)
				}
			}
			f, err := os.Open(c.Binary)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			mod, err := symbolizer.Open(f, st.Size(), debugfiles.FileMeta{Kind: debugfiles.KindELF})
			if err != nil {
				t.Fatal(err)
			}
			base := hexU(t, img.ImageAddr)
			frames := ev.Exception.Values[0].Stacktrace.Frames
			var rel []uint64
			var names []string
			for i, fr := range frames {
				a := hexU(t, fr.InstructionAddr)
				if a < base || a >= base+img.ImageSize {
					continue // libc, libstdc++, the signal trampoline
				}
				r := a - base + mod.LoadAddress()
				if i != len(frames)-1 || ev.Exception.Values[0].Stacktrace.Adjustment == "all" {
					r-- // a return address: look up the call
				}
				locs, err := mod.Lookup(r)
				if err != nil {
					t.Fatalf("frame %d 0x%x: %v", i, r, err)
				}
				rel = append(rel, r)
				for _, l := range locs {
					names = append(names, l.Function)
				}
			}
			t.Logf("%s: %v", c.Name, names)
			idx := 0
			for _, n := range names {
				if idx < len(want[c.Name]) && n == want[c.Name][idx] {
					idx++
				}
			}
			if idx != len(want[c.Name]) {
				t.Errorf("resolved %q; want the subsequence %q", names, want[c.Name])
			}
			compareInnermostWithLLVM(t, c.Binary, mod, rel)
		})
	}
}

func compareInnermostWithLLVM(t *testing.T, bin string, mod debugfiles.Module, addrs []uint64) {
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	cmd := exec.Command(testenv.Tool(t, "llvm-symbolizer"), "--inlining", "--output-style=JSON", "--obj="+bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for i := 0; sc.Scan(); i++ {
		var r struct {
			Symbol []struct {
				FunctionName string
				Line         int
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		locs, _ := mod.Lookup(addrs[i])
		inner := locs[len(locs)-1]
		llvmInner := r.Symbol[0]
		// llvm 14 spaces "> >"; it names Go assembly by its ELF symbol
		// ("runtime.goexit.abi0"): both cosmetic, see the symbolizer tests.
		name := strings.TrimSuffix(strings.ReplaceAll(llvmInner.FunctionName, "> >", ">>"), ".abi0")
		if len(locs) != len(r.Symbol) || inner.Line != llvmInner.Line ||
			(name != inner.Function && !slices.Contains([]string{"main.main", "main.crash"}, inner.Function)) {
			t.Errorf("0x%x: ours %s:%d (%d levels), llvm %s:%d (%d levels)", addrs[i], inner.Function, inner.Line, len(locs), llvmInner.FunctionName, llvmInner.Line, len(r.Symbol))
		}
	}
}
