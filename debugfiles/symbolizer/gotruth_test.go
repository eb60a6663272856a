package symbolizer_test

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles/symbolizer"
)

type goFrameTruth struct {
	PC       uint64 `json:"pc"`
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Entry    uint64 `json:"entry"`
}

// TestGoCallersFramesTruth checks the Go paths against the runtime itself:
// the fixture prints its own PCs with runtime.CallersFrames' answer for
// each. Consecutive frames with one function entry are a physical frame's
// inline levels, innermost first; the runtime reports the outer levels at
// their inline-mark PCs, so the innermost level's PC is the one looked up.
// Every variant must give the same levels: DWARF's inlined-subroutine tree,
// and without DWARF the pclntab's inline tree (found through the go:func.*
// symbol, or in a stripped binary through moduledata).
func TestGoCallersFramesTruth(t *testing.T) {
	for _, tc := range []struct {
		variant string
		dwarf   bool
	}{
		{variant: "go-dwarf", dwarf: true},
		{variant: "go-nodwarf"},
		{variant: "go-stripped"},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			bin := fixture(t, tc.variant)
			out, err := exec.Command(bin, "frames").Output()
			if err != nil {
				t.Fatalf("%s frames: %v", bin, err)
			}
			var rep struct{ Stacks [][]goFrameTruth }
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatal(err)
			}
			mod := openFile(t, bin)
			if st, _ := symbolizer.ModuleStats(mod); st.HasDWARF != tc.dwarf || st.HasGoPCLN == tc.dwarf {
				t.Fatalf("stats %+v: want DWARF %v, else pclntab", st, tc.dwarf)
			}
			checked, inlinedSeen := 0, 0
			for si, st := range rep.Stacks {
				for i := 0; i < len(st); {
					j := i
					for j < len(st) && st[j].Entry == st[i].Entry {
						j++
					}
					group := st[i:j] // innermost first
					i = j
					locs, err := mod.Lookup(group[0].PC)
					if err != nil {
						t.Errorf("stack %d pc 0x%x: %v", si, group[0].PC, err)
						continue
					}
					checked++
					outer := group[len(group)-1]
					if locs[0].Function != outer.Function || locs[0].SymbolAddr != outer.Entry {
						t.Errorf("pc 0x%x: outermost %s@0x%x, runtime says %s@0x%x", group[0].PC, locs[0].Function, locs[0].SymbolAddr, outer.Function, outer.Entry)
					}
					if len(group) > 1 {
						inlinedSeen++
					}
					if len(locs) != len(group) {
						t.Errorf("pc 0x%x: %d levels %s, runtime %d", group[0].PC, len(locs), fmtOurs(locs), len(group))
						continue
					}
					for k := range group {
						want, got := group[len(group)-1-k], locs[k]
						if got.Function != want.Function || got.File != want.File || got.Line != want.Line || got.Inlined != (k > 0) {
							t.Errorf("pc 0x%x level %d: %s %s:%d, runtime %s %s:%d", group[0].PC, k, got.Function, got.File, got.Line, want.Function, want.File, want.Line)
						}
					}
				}
			}
			t.Logf("%s: %d physical frames checked, %d with inlined calls", tc.variant, checked, inlinedSeen)
			if checked < 20 || inlinedSeen < 3 {
				t.Errorf("fixture exercised too little: %d frames, %d inlined", checked, inlinedSeen)
			}
		})
	}
}

// TestGoCrashTruth runs testdata/native/gocrash (generic functions,
// closures, inlined methods): every PC runtime.Callers gave it, virtual
// inline-mark PCs included, must resolve (after the return-address step
// back the runtime also takes) to the innermost frame runtime.CallersFrames
// reports, with the runtime's spelling of generic names ("apply[...]").
func TestGoCrashTruth(t *testing.T) {
	for _, variant := range []string{"gocrash-dwarf", "gocrash-nodwarf", "gocrash-stripped"} {
		t.Run(variant, func(t *testing.T) {
			bin := fixture(t, variant)
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			var rep struct {
				Event struct {
					Exception struct {
						Values []struct {
							Stacktrace struct {
								Frames []struct {
									InstructionAddr string `json:"instruction_addr"`
								}
							}
						}
					}
				}
				Truth [][]goFrameTruth
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatal(err)
			}
			frames := rep.Event.Exception.Values[0].Stacktrace.Frames
			if len(frames) != len(rep.Truth) {
				t.Fatalf("%d frames, %d truths", len(frames), len(rep.Truth))
			}
			mod := openFile(t, bin)
			generic, inlined := 0, 0
			for i, fr := range frames {
				pc, err := strconv.ParseUint(strings.TrimPrefix(fr.InstructionAddr, "0x"), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				want := rep.Truth[i][0]
				locs, err := mod.Lookup(pc - 1)
				if err != nil {
					t.Errorf("pc 0x%x (%s): %v", pc, want.Function, err)
					continue
				}
				got := locs[len(locs)-1]
				if got.Function != want.Function || got.File != want.File || got.Line != want.Line {
					t.Errorf("pc 0x%x: %s %s:%d (levels %s), runtime %s %s:%d", pc, got.Function, got.File, got.Line, fmtOurs(locs), want.Function, want.File, want.Line)
				}
				if strings.Contains(want.Function, "[...]") {
					generic++
				}
				if got.Inlined {
					inlined++
				}
			}
			if generic == 0 || inlined < 2 {
				t.Errorf("fixture exercised too little: %d generic frames, %d inlined", generic, inlined)
			}
		})
	}
}
