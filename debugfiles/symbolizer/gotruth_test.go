package symbolizer_test

import (
	"encoding/json"
	"os/exec"
	"testing"
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
func TestGoCallersFramesTruth(t *testing.T) {
	for _, tc := range []struct {
		variant string
		// inlines: the path reports inline levels (DWARF); the pclntab path
		// reports the outermost function at the innermost file:line.
		inlines bool
	}{
		{variant: "go-dwarf", inlines: true},
		{variant: "go-nodwarf", inlines: false},
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
					inner := locs[len(locs)-1]
					if inner.File != group[0].File || inner.Line != group[0].Line {
						t.Errorf("pc 0x%x: innermost %s:%d, runtime says %s:%d", group[0].PC, inner.File, inner.Line, group[0].File, group[0].Line)
					}
					if !tc.inlines {
						if len(locs) != 1 {
							t.Errorf("pc 0x%x: %d levels from pclntab, want 1", group[0].PC, len(locs))
						}
						continue
					}
					if len(group) > 1 {
						inlinedSeen++
					}
					if len(locs) != len(group) {
						t.Errorf("pc 0x%x: %d levels, runtime %d", group[0].PC, len(locs), len(group))
						continue
					}
					for k := range group {
						want, got := group[len(group)-1-k], locs[k]
						if got.Function != want.Function || got.File != want.File || got.Line != want.Line {
							t.Errorf("pc 0x%x level %d: %s %s:%d, runtime %s %s:%d", group[0].PC, k, got.Function, got.File, got.Line, want.Function, want.File, want.Line)
						}
					}
				}
			}
			t.Logf("%s: %d physical frames checked, %d with inlined calls", tc.variant, checked, inlinedSeen)
			if checked < 20 || (tc.inlines && inlinedSeen < 3) {
				t.Errorf("fixture exercised too little: %d frames, %d inlined", checked, inlinedSeen)
			}
		})
	}
}
